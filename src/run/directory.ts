/**
 * A run's directory: config.json (what was asked), metrics.jsonl (one JSON line per logged step,
 * per epoch, for the test and for every status change), checkpoint.safetensors (the latest
 * state) and report.html (rendered from the other files). Everything is written atomically or
 * appended line by line, so a crash leaves every file readable. Node only.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/files.js';
import type { ReportEpoch, ReportStep, ReportTest } from '../report/html.js';

export type MetricsLine =
  | ({ kind: 'step' } & ReportStep)
  | ({ kind: 'epoch' } & ReportEpoch)
  | ({ kind: 'test'; count: number } & ReportTest)
  | { kind: 'status'; status: string; step: number; at: string };

export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  checkpoint: 'checkpoint.safetensors',
  report: 'report.html',
} as const;

export class RunDirectory {
  constructor(readonly dir: string) {}

  path(file: keyof typeof RUN_FILES): string {
    return join(this.dir, RUN_FILES[file]);
  }

  has(file: keyof typeof RUN_FILES): boolean {
    return existsSync(this.path(file));
  }

  create(): void {
    mkdirSync(this.dir, { recursive: true });
  }

  writeJson(file: 'config', value: unknown): void {
    writeFileAtomic(this.path(file), JSON.stringify(value, null, 2) + '\n');
  }

  readJson(file: 'config'): unknown {
    const path = this.path(file);
    const text = this.readText(path);
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new Error(`${path}: not valid JSON (${(error as Error).message})`);
    }
  }

  append(line: MetricsLine): void {
    appendFileSync(this.path('metrics'), JSON.stringify(line) + '\n');
  }

  /** Every line of metrics.jsonl; a torn last line (a crash mid-write) is skipped. */
  readMetrics(): MetricsLine[] {
    if (!this.has('metrics')) return [];
    const path = this.path('metrics');
    const lines = this.readText(path).split('\n');
    const out: MetricsLine[] = [];
    lines.forEach((text, i) => {
      if (text.trim() === '') return;
      try {
        out.push(JSON.parse(text) as MetricsLine);
      } catch (error) {
        if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.trim() !== '')) {
          throw new Error(`${path}:${i + 1}: not valid JSON (${(error as Error).message})`);
        }
      }
    });
    return out;
  }

  /**
   * Keeps the metrics of the first `steps` training steps and `epochs` epochs only: resuming
   * from a checkpoint repeats whatever was logged after it, and must not log it twice.
   */
  truncateMetrics(steps: number, epochs: number): void {
    const kept = this.readMetrics().filter((l) => (l.kind === 'step' ? l.step <= steps : l.kind === 'epoch' ? l.epoch <= epochs : l.kind === 'status'));
    writeFileAtomic(this.path('metrics'), kept.map((l) => JSON.stringify(l) + '\n').join(''));
  }

  writeCheckpoint(bytes: Uint8Array): void {
    writeFileAtomic(this.path('checkpoint'), bytes);
  }

  readCheckpoint(): Uint8Array {
    const path = this.path('checkpoint');
    if (!this.has('checkpoint')) throw new Error(`${path}: no checkpoint in ${this.dir} (a run writes one after its first epoch, or on Ctrl-C)`);
    return new Uint8Array(readFileSync(path));
  }

  writeReport(html: string): void {
    writeFileAtomic(this.path('report'), html);
  }

  private readText(path: string): string {
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      throw new Error(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  }
}
