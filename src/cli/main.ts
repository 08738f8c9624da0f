#!/usr/bin/env node
/**
 * The `sll` command: train, eval, info, data, tune. Usage errors print the command's help hint and
 * exit 2; other errors print their message (no stack trace unless SLL_DEBUG is set) and exit 1.
 */
import { pathToFileURL } from 'node:url';
import { realpathSync } from 'node:fs';
import { openNodeDevice } from '../node.js';
import { nearest } from '../settings/schema.js';
import { UsageError } from './args.js';
import { dataCommand } from './dataCommand.js';
import { evalCommand } from './evalCommand.js';
import { infoCommand } from './infoCommand.js';
import { tuneCommand } from './tuneCommand.js';
import { applySavedTuning, checkTuningEnvironment } from './tuningCache.js';
import { stdoutOutput, type Output } from './progress.js';
import { STOP_SIGNALS, trainCommand } from './trainCommand.js';

export const MAIN_HELP = `sll: Stochastic Layer-wise Learning on a from-scratch WebGPU engine

Usage: sll <command> [options]     (sll <command> --help for its options)

Commands:
  train   train an MLP, CNN or ViT with SLL, another local rule, DFA or backprop; writes a run directory
          (config.json, metrics.jsonl, checkpoint.safetensors, report.html)
  eval    evaluate a checkpoint: accuracy, per-class accuracy, confusion matrix
  info    the WebGPU adapter, its limits and features
  data    list known datasets and where they are; 'sll data fetch NAME' downloads one
  tune    time the matmul variants on this adapter and save the fastest per shape class
`;

const COMMANDS = ['train', 'eval', 'info', 'data', 'tune'] as const;

/** Set when writing the command's output failed for another reason than a reader gone away. */
let outputFailed = false;

function suggestCommand(command: string): string {
  const near = nearest(command, COMMANDS);
  return near ? ` (did you mean '${near}'?)` : '';
}

export async function main(argv: readonly string[], out: Output = stdoutOutput()): Promise<number> {
  const [command, ...rest] = argv;
  // A terminal that goes away (a closed window, a dropped ssh session: SIGHUP) or a reader that
  // quits (`sll eval | head`) makes writes fail with EIO or EPIPE. A run must still stop cleanly
  // and write its files, so such a failure loses the output only; any other (a full disk under
  // `> file`) makes the exit code 1 once the command is done, instead of an unhandled error now.
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') > 0) continue;
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'EIO') outputFailed = true;
    });
  }
  // train, eval and info run with this adapter's saved kernel tuning (sll tune), if any; train
  // and info say which (eval's output may be JSON). tune measures without one.
  const openDevice = () => openNodeDevice();
  const openTunedDevice = (say: boolean) => async () => {
    checkTuningEnvironment();
    const device = await openNodeDevice();
    const line = applySavedTuning(device);
    if (line && say) out.write(line + '\n');
    return device;
  };
  try {
    switch (command) {
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        out.write(MAIN_HELP);
        return command === undefined ? 2 : 0;
      case 'train':
        return await trainCommand(rest, {
          openDevice: openTunedDevice(true),
          out,
          onInterrupt: (handler) => {
            const handlers = STOP_SIGNALS.map((signal) => [signal, () => handler(signal)] as const);
            for (const [signal, on] of handlers) process.on(signal, on);
            return () => {
              for (const [signal, on] of handlers) process.off(signal, on);
            };
          },
        });
      case 'eval':
        return await evalCommand(rest, { openDevice: openTunedDevice(false), out });
      case 'info':
        return await infoCommand(rest, { openDevice: openTunedDevice(!rest.includes('--json')), out });
      case 'tune':
        return await tuneCommand(rest, { openDevice, out });
      case 'data':
        return await dataCommand(rest, { out });
      default:
        throw new UsageError(`unknown command '${command}'${suggestCommand(command)} (commands: ${COMMANDS.join(', ')})`, '');
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`sll${error.command ? ` ${error.command}` : ''}: ${error.message}\nsee: sll ${error.command ? `${error.command} ` : ''}--help\n`);
      return 2;
    }
    process.stderr.write(`sll${command ? ` ${command}` : ''}: ${process.env.SLL_DEBUG ? (error as Error).stack : (error as Error).message}\n`);
    return 1;
  }
}

// Run when executed (node dist/src/cli/main.js, or the `sll` bin link), not when imported.
const invoked = process.argv[1] ? pathToFileURL(realpathSync(process.argv[1])).href : '';
if (import.meta.url === invoked) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = outputFailed && code === 0 ? 1 : code;
  });
}
