/**
 * What a training run shows while it works: on a terminal, one progress bar per epoch redrawn in
 * place (step, loss, samples per second, time left); elsewhere (a log file, CI) plain lines, a
 * few per epoch. After each epoch a compact table of every unit's losses and accuracy, and the
 * memory in use.
 */
import type { ReportEpoch } from '../report/html.js';
import type { Progress, StepTick } from '../sll/fit.js';

export interface Output {
  write(text: string): void;
  /** True on an interactive terminal: progress is redrawn in place. */
  isTTY: boolean;
  columns?: number;
}

export function stdoutOutput(): Output {
  return { write: (t) => process.stdout.write(t), isTTY: process.stdout.isTTY === true, columns: process.stdout.columns };
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 2 ** 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 2 ** 30) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

export class ProgressView {
  private lineOpen = false;
  private lastPlainStep = -1;
  private recentRate = 0;
  /** The last metrics window's loss and rate, shown again on every tick until the next one. */
  private last: (Progress & { epochs: number }) | undefined;
  private lastDraw = 0;

  constructor(
    private readonly out: Output,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * A step ended (no metrics read): on a terminal, move the bar, at most 4 times a second, so
   * that a long metrics window does not look like a hang. Plain output waits for the metrics.
   */
  step(tick: StepTick & { epochs: number }): void {
    if (!this.out.isTTY || tick.step === tick.stepsPerEpoch || this.now() - this.lastDraw < 250) return;
    this.lastDraw = this.now();
    const last = this.last?.epoch === tick.epoch ? this.last : undefined;
    const head = `epoch ${tick.epoch + 1}/${tick.epochs}`;
    const tail = last ? this.tail({ ...last, step: tick.step }) : `${tick.step}/${tick.stepsPerEpoch}`;
    this.draw(head, tick.step, tick.stepsPerEpoch, tail);
  }

  /** A metrics window ended: redraw the bar (terminal) or print a line now and then (plain). */
  progress(p: Progress & { epochs: number }): void {
    // Smooth the rate a little: windows are short and noisy on a shared CPU.
    this.recentRate = this.recentRate === 0 ? p.samplesPerSecond : 0.7 * this.recentRate + 0.3 * p.samplesPerSecond;
    this.last = p;
    const head = `epoch ${p.epoch + 1}/${p.epochs}`;
    const tail = this.tail(p);
    if (this.out.isTTY) {
      this.lastDraw = this.now();
      this.draw(head, p.step, p.stepsPerEpoch, tail);
    } else {
      // About four lines an epoch.
      const every = Math.max(1, Math.ceil(p.stepsPerEpoch / 4));
      if (Math.floor(p.step / every) !== Math.floor(this.lastPlainStep / every) || p.step === p.stepsPerEpoch) {
        this.out.write(`${head}  step ${tail}\n`);
      }
      this.lastPlainStep = p.step;
    }
  }

  private tail(p: Progress): string {
    const loss = p.metrics.units.at(-1)?.likelihood ?? Number.NaN;
    const left = ((p.stepsPerEpoch - p.step) * (p.metrics.samples / Math.max(p.metrics.steps, 1))) / Math.max(this.recentRate, 1e-9);
    return `${p.step}/${p.stepsPerEpoch}  loss ${loss.toFixed(4)}  ${this.recentRate.toFixed(0)} samples/s  ${formatDuration(left)} left`;
  }

  private draw(head: string, step: number, steps: number, tail: string): void {
    const width = Math.max(10, Math.min(40, (this.out.columns ?? 100) - head.length - tail.length - 6));
    const filled = Math.round((width * step) / steps);
    this.out.write(`\r\x1b[2K${head} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${tail}`);
    this.lineOpen = true;
  }

  /** Ends the bar's line before other text. */
  breakLine(): void {
    if (this.lineOpen) this.out.write('\n');
    this.lineOpen = false;
  }

  line(text: string): void {
    this.breakLine();
    this.out.write(`${text}\n`);
  }

  /** The table after an epoch: one row per unit with its losses, its training accuracy over the epoch and its validation accuracy. */
  epoch(record: ReportEpoch): void {
    this.breakLine();
    const percent = (a: number | undefined) => (a === undefined ? '' : `${(100 * a).toFixed(2)}%`);
    // The classifier's row shows the network's validation accuracy, a block's its head's (Forward-Forward trains no classifier: its rows are all blocks).
    const accuracy = (name: string, i: number) => {
      const v = record.validation;
      if (!v) return '';
      return percent(name === 'classifier' ? v.accuracy : v.blockAccuracy[i]);
    };
    const units = record.train.units;
    const rows = units.map((u, i) => [u.name, u.likelihood.toFixed(4), u.alignment === undefined ? '' : u.alignment.toFixed(4), percent(u.accuracy), accuracy(u.name, i)]);
    const header = ['unit', 'likelihood', 'alignment', 'train acc', record.validation ? 'val acc' : ''];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
    const fmt = (r: string[]) => `  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')}`.trimEnd();
    const mem = record.memory.peak;
    this.out.write(
      [
        `epoch ${record.epoch}: ${formatDuration(record.seconds)}, ${record.samplesPerSecond.toFixed(0)} samples/s${record.validation ? `, validation accuracy ${(100 * record.validation.accuracy).toFixed(2)}%` : ''}`,
        fmt(header),
        ...rows.map(fmt),
        `  memory (peak): parameters ${formatBytes(mem.parameter ?? 0)}, optimizer ${formatBytes(mem.optimizer ?? 0)}, projections ${formatBytes(mem.projection ?? 0)}, activations ${formatBytes(mem.activation ?? 0)}, scratch ${formatBytes(mem.scratch ?? 0)}`,
        '',
      ].join('\n'),
    );
  }
}
