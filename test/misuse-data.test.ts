/**
 * `sll data fetch`, `sll train` and `sll eval` given numbers, mirrors, servers and files that
 * would otherwise let a message of Node's own through (issue 18): a timeout beyond what a Node
 * timer holds, a file: or non-URL mirror (from --mirror or SLL_DATA_MIRROR), a download cut
 * short, a refused connection, and dataset files holding no images or fewer labels than images.
 *
 * Each case runs the built command in a child process, as a person runs it, against a loopback
 * server (127.0.0.1) that is never the network, and asserts the exit code, the message, and that
 * no message is Node's ("The value of ...", "not implemented", ERR_ codes, stack frames).
 * A few cases call fetchDataset directly: its options are checked the same way.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchDataset, MAX_TIMER_MS } from '../src/data/fetch.js';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from '../src/data/idx.js';
import { DATASETS } from '../src/data/registry.js';
import { idxFile } from './helpers/fixtures.js';
import { runCli } from './helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'sll-misuse-data-'));
const CHECKPOINT = new URL('./fixtures/checkpoint-format1.safetensors', import.meta.url).pathname;
/** What no message may contain: Node's and undici's own wording, their codes, stack frames. */
const NODE_INTERNALS = /The value of|not implemented|ERR_|at async|^\s+at .+:\d+:\d+\)?$|TimeoutOverflowWarning|fetch failed/m;

/** The size mnist's first file is published with: a Content-Length the fetch accepts. */
const FIRST = DATASETS.mnist!.files[0]!;
/** Bytes the truncating server sends before it closes the connection. */
const SENT = 1000;

/**
 * A raw HTTP server, so the response is exactly what the case needs: under /short/ the headers
 * announce the published size and 1000 bytes follow, then the connection closes; anything else
 * is a 404.
 */
let server: Server;
let base = '';
const sockets = new Set<Socket>();
beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', (request) => {
      const path = /^GET (\S+)/.exec(request.toString('latin1'))?.[1] ?? '';
      if (path.startsWith('/short/')) {
        socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${FIRST.bytes}\r\nconnection: close\r\n\r\n`), Buffer.alloc(SENT, 7)]));
      } else {
        socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
  rmSync(work, { recursive: true, force: true });
});

/** A port nothing listens on: a server opened, its port noted, and closed. */
async function closedPort(): Promise<number> {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  return port;
}

/** A directory of the four MNIST-layout IDX files with the given counts (zero pixels, label 0). */
function idxDir(name: string, counts: { trainImages: number; trainLabels: number; testImages: number; testLabels: number }): string {
  const dir = join(work, name);
  mkdirSync(dir);
  const images = (n: number) => idxFile(IDX_IMAGES_MAGIC, [n, 28, 28], new Uint8Array(n * 784));
  const labels = (n: number) => idxFile(IDX_LABELS_MAGIC, [n], new Uint8Array(n));
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), images(counts.trainImages));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labels(counts.trainLabels));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), images(counts.testImages));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), labels(counts.testLabels));
  return dir;
}
const noTest = idxDir('no-test', { trainImages: 20, trainLabels: 20, testImages: 0, testLabels: 0 });
const noTrain = idxDir('no-train', { trainImages: 0, trainLabels: 0, testImages: 10, testLabels: 10 });
const fewerLabels = idxDir('fewer-labels', { trainImages: 20, trainLabels: 19, testImages: 10, testLabels: 10 });

interface Case {
  name: string;
  /** Arguments, made once the server has its port. */
  args: () => string[] | Promise<string[]>;
  env?: Record<string, string>;
  code: number;
  says: RegExp;
}

const MAX_S = Math.floor(MAX_TIMER_MS / 1000);
const downloads = join(work, 'downloads');
const fetchArgs = (...more: string[]) => ['data', 'fetch', 'mnist', '--dir', downloads, ...more];
const TRAIN = ['train', '--dataset', 'mnist', '--epochs', '1', '--batch', '5', '--validation', '2', '--hidden', '8'];

const CASES: Case[] = [
  // Numbers given to a timer: bounded at the flag, in seconds, naming the largest accepted.
  { name: '--timeout beyond a timer', args: () => fetchArgs('--timeout', '4300000'), code: 2, says: new RegExp(`--timeout must be at most ${MAX_S} seconds \\(24\\.8 days\\), got 4300000`) },
  { name: '--timeout one past the largest', args: () => fetchArgs('--timeout', String(MAX_S + 1)), code: 2, says: new RegExp(`--timeout must be at most ${MAX_S} seconds`) },
  { name: '--idle-timeout 1e30', args: () => fetchArgs('--idle-timeout', '1e30'), code: 2, says: new RegExp(`--idle-timeout must be at most ${MAX_S} seconds \\(24\\.8 days\\), or 0 for never, got 1e\\+30`) },
  {
    name: 'the largest timeouts are accepted (the 404 after them is reported)',
    args: () => fetchArgs('--timeout', String(MAX_S), '--idle-timeout', String(MAX_S), '--mirror', `${base}/missing/`),
    code: 1,
    says: /missing\/train-images-idx3-ubyte\.gz: HTTP 404 Not Found/,
  },
  { name: 'a tiny --timeout is whole milliseconds', args: () => fetchArgs('--timeout', '0.0001', '--mirror', `${base}/missing/`), code: 1, says: /aborted \(timed out\)|HTTP 404/ },

  // Mirrors that are not http(s): refused at the flag or the variable, pointing at --data-dir.
  {
    name: 'a file: mirror',
    args: () => fetchArgs('--mirror', 'file:///srv/datasets/{name}/'),
    code: 2,
    says: /--mirror file:\/\/\/srv\/datasets\/mnist\/: the file: scheme cannot be downloaded from; only http:\/\/ and https:\/\/ mirrors are\. Files on disk need no download: read them where they are with `sll train --data-dir DIR`/,
  },
  { name: 'a file: SLL_DATA_MIRROR', args: () => fetchArgs(), env: { SLL_DATA_MIRROR: 'file:///srv/datasets/' }, code: 2, says: /SLL_DATA_MIRROR file:\/\/\/srv\/datasets\/: the file: scheme cannot be downloaded from.*sll train --data-dir DIR/ },
  { name: 'an ftp: mirror', args: () => fetchArgs('--mirror', 'ftp://example.org/mnist/'), code: 2, says: /--mirror ftp:\/\/example\.org\/mnist\/: the ftp: scheme cannot be downloaded from; only http:\/\/ and https:\/\/ mirrors are\.$/m },
  { name: 'a mirror that is not a URL', args: () => fetchArgs('--mirror', 'example.org/mnist'), code: 2, says: /--mirror example\.org\/mnist is not a URL: give an http:\/\/ or https:\/\/ address/ },
  // (Refused by the option parser, or else by the mirror check.)
  { name: 'an empty mirror', args: () => fetchArgs('--mirror='), code: 2, says: /--mirror (is empty: give an http:\/\/ or https:\/\/ address|must not be empty)/ },

  // Downloads that fail: the URL and the cause, in words.
  {
    name: 'a download cut short',
    args: () => fetchArgs('--mirror', `${base}/short/`),
    code: 1,
    says: new RegExp(`short/train-images-idx3-ubyte\\.gz: download cut short: ${SENT} of the ${FIRST.bytes} bytes announced \\(Content-Length\\) arrived before the connection closed`),
  },
  { name: 'a refused connection', args: async () => fetchArgs('--mirror', `http://127.0.0.1:${await closedPort()}/`), code: 1, says: /train-images-idx3-ubyte\.gz: request failed: connection refused \(ECONNREFUSED\)/ },

  // Dataset files with no images: refused at load, before training or evaluating.
  { name: 'train: a test file of no images', args: () => [...TRAIN, '--data-dir', noTest], code: 1, says: /no-test\/t10k-images-idx3-ubyte: holds no images \(its header gives a count of 0\), so the test split would be empty/ },
  { name: 'train: a training file of no images', args: () => [...TRAIN, '--data-dir', noTrain], code: 1, says: /no-train\/train-images-idx3-ubyte: holds no images .* so the training split would be empty/ },
  { name: 'train: fewer labels than images', args: () => [...TRAIN, '--data-dir', fewerLabels], code: 1, says: /fewer-labels\/train-images-idx3-ubyte holds 20 images but .*fewer-labels\/train-labels-idx1-ubyte holds 19 labels/ },
  { name: 'eval: a test file of no images', args: () => ['eval', CHECKPOINT, '--dataset', 'mnist', '--data-dir', noTest], code: 1, says: /no-test\/t10k-images-idx3-ubyte: holds no images/ },
];

describe('sll data, train and eval refuse what Node would otherwise report', () => {
  it.each(CASES)('$name', async ({ args, env, code, says }) => {
    const result = await runCli(await args(), { env: { SLL_DATA_DIR: join(work, 'cache'), SLL_DATA_MIRROR: '', ...env }, timeoutMs: 20_000 });
    const said = `${result.stdout}${result.stderr}`;
    expect(said).toMatch(says);
    expect(said).not.toMatch(NODE_INTERNALS);
    expect(result.code, said).toBe(code);
    // No training or evaluation happened, and no download was left half-written.
    expect(said).not.toMatch(/accuracy/);
    if (existsSync(downloads)) expect(readdirSync(downloads).filter((f) => f.endsWith('.part'))).toEqual([]);
  });
});

describe('fetchDataset checks its options as the command does', () => {
  const refusal = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (error) {
      return error as Error;
    }
    throw new Error('expected a rejection');
  };
  it('refuses an idle timeout beyond a timer, naming the option', async () => {
    for (const idleTimeoutMs of [1e30, MAX_TIMER_MS + 1, -1, Number.NaN]) {
      const error = await refusal(fetchDataset('mnist', { dir: join(work, 'lib'), idleTimeoutMs }));
      expect(error).toBeInstanceOf(RangeError);
      expect(error.message).toMatch(new RegExp(`^fetchDataset: idleTimeoutMs must be 0 \\(never\\) or a number of milliseconds up to ${MAX_TIMER_MS} `));
    }
    const error = await refusal(fetchDataset('mnist', { dir: join(work, 'lib'), maxBytes: 0 }));
    expect(error.message).toBe('fetchDataset: maxBytes must be a positive integer, got 0');
  });

  it('refuses a mirror that is not http(s), and names SLL_DATA_MIRROR when it came from there', async () => {
    const dir = join(work, 'lib');
    expect((await refusal(fetchDataset('mnist', { dir, mirror: 'file:///x/' }))).message).toMatch(/^the mirror file:\/\/\/x\/: the file: scheme cannot be downloaded from/);
    expect((await refusal(fetchDataset('mnist', { dir, env: { SLL_DATA_MIRROR: 'file:///y/{name}' } }))).message).toMatch(/^SLL_DATA_MIRROR file:\/\/\/y\/mnist: the file: scheme/);
    expect(existsSync(dir)).toBe(false);
  });
});
