/**
 * Downloads a known dataset's files and verifies them against the published MD5s (registry.ts).
 *
 * Each file is streamed with the global fetch (Node 20's undici) into `<file>.part` in the
 * target directory while its MD5 is computed, and renamed to `<file>` only once the digest
 * matches, so a file under its final name is always a verified one (an interrupted or corrupt
 * download leaves nothing behind: the part file is removed). A file already present with the
 * right MD5 is not downloaded again; one present with another MD5 is replaced by a verified
 * download (and left as it was if that download fails).
 *
 * CIFAR is kept as the verified .tar.gz and read straight from it by loadCifar (tar.ts, in
 * memory, about a second to gunzip): nothing is extracted, so the one file on disk is the one
 * the checksum covers and a later fetch can re-verify it, and disk use is 170 MB, not 350.
 *
 * Bodies are bounded: by the published size when the registry has one (a longer body is cut off
 * and refused), else by `maxBytes`. `Accept-Encoding: identity` is sent because fetch would
 * otherwise transparently decompress a .gz a server labels Content-Encoding: gzip, and the MD5
 * is of the file as published. Errors name the URL (HTTP status, connection failure, abort) or
 * the file (digest mismatch, with the expected and actual digests).
 *
 * Node only (files); importing this file is browser-safe: Node's modules are fetched at call time.
 */
import { nodeBuiltin } from './idx.js';
import { datasetCacheDir, datasetInfo, locateDataset, processEnv, type DataEnv, type DatasetFile, type DatasetRegistry } from './registry.js';

/** Default cap on a file without a published size: 2 GiB. */
export const MAX_DOWNLOAD_BYTES = 2 ** 31;

export interface FetchProgress {
  /** Dataset name, e.g. "cifar10". */
  dataset: string;
  /** File name, e.g. "cifar-10-binary.tar.gz". */
  file: string;
  url: string;
  /** 0-based position of this file, and how many files the dataset has. */
  index: number;
  count: number;
  /** Bytes of this file so far: non-decreasing, equal to `total` at the 'done' or 'present' event. */
  bytes: number;
  /** Expected size: Content-Length, else the published size, else undefined (unknown). */
  total: number | undefined;
  /**
   * 'downloading': a chunk arrived (the first event has bytes 0); 'done': downloaded and
   * verified; 'present': already there with the right MD5, not downloaded.
   */
  state: 'downloading' | 'done' | 'present';
}

export interface FetchOptions {
  /** Target directory (default datasetCacheDir(name): $SLL_DATA_DIR/<name> or ~/.cache/...). */
  dir?: string;
  /**
   * Base URL replacing the registry's (default $SLL_DATA_MIRROR). "{name}" in it is replaced by
   * the dataset name, so one mirror can serve several datasets (MNIST and Fashion-MNIST share
   * file names): e.g. http://host/datasets/{name}/.
   */
  mirror?: string;
  onProgress?: (progress: FetchProgress) => void;
  registry?: DatasetRegistry;
  /** Aborts the download in progress (e.g. AbortSignal.timeout(ms)); the part file is removed. */
  signal?: AbortSignal;
  /** Environment for SLL_DATA_MIRROR and the cache directory (default process.env). */
  env?: DataEnv;
  /** Cap on a file without a published size (default MAX_DOWNLOAD_BYTES). */
  maxBytes?: number;
  /**
   * Gives up when the server sends nothing for this long: no answer to the request, or a stall
   * mid-body (default IDLE_TIMEOUT_MS; 0: never). A server that accepts the connection and
   * never answers would otherwise hang the download forever.
   */
  idleTimeoutMs?: number;
}

/** A minute without a byte: far beyond any live server's pause, short enough for a person to wait. */
export const IDLE_TIMEOUT_MS = 60_000;

/** Raised through the abort signal when the server has been silent for the idle timeout. */
class IdleTimeout extends Error {
  override name = 'IdleTimeout';
}

export interface FetchedFile {
  name: string;
  path: string;
  url: string;
  md5: string;
  bytes: number;
  /** false when the file was already present with the right MD5. */
  downloaded: boolean;
}

export interface FetchResult {
  name: string;
  /** Where the files are (for the bundled digits: the package's directory, or undefined). */
  dir: string | undefined;
  files: FetchedFile[];
}

/** MD5 of a file on disk (streamed), or undefined when there is no such file. */
async function fileMd5(path: string): Promise<{ md5: string; bytes: number } | undefined> {
  const fs = nodeBuiltin('node:fs', 'fetchDataset');
  if (!fs.statSync(path, { throwIfNoEntry: false })?.isFile()) return undefined;
  const hash = nodeBuiltin('node:crypto', 'fetchDataset').createHash('md5');
  let bytes = 0;
  for await (const chunk of fs.createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Uint8Array);
    bytes += (chunk as Uint8Array).length;
  }
  return { md5: hash.digest('hex'), bytes };
}

/** Why a fetch call failed, from undici's error (its cause has the system error code). */
function describeFailure(error: unknown, signal: AbortSignal | undefined): string {
  if (signal?.aborted) {
    const reason = signal.reason as { name?: string; message?: string } | undefined;
    if (reason instanceof IdleTimeout) return reason.message;
    return `aborted (${reason?.name === 'TimeoutError' ? 'timed out' : reason?.message ?? String(reason)})`;
  }
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const detail = cause?.code ?? cause?.message ?? (error as Error).message;
  return `request failed (${detail})`;
}

/**
 * Downloads every file of dataset `name` that is not already present and verified, into
 * `options.dir` (default its cache directory). Resolves to where the files are; rejects with an
 * Error naming the URL or file on the first failure.
 */
export async function fetchDataset(name: string, options: FetchOptions = {}): Promise<FetchResult> {
  const info = datasetInfo(name, options.registry);
  const env = options.env ?? processEnv();
  if (info.files.length === 0) {
    // The bundled digits: nothing to download.
    return { name, dir: locateDataset(name, { registry: options.registry, env }).dir, files: [] };
  }
  const fs = nodeBuiltin('node:fs', 'fetchDataset');
  const dir = options.dir ?? datasetCacheDir(name, env);
  const base = (options.mirror ?? env.SLL_DATA_MIRROR ?? info.baseUrl).replaceAll('{name}', name);
  if (!base) throw new Error(`fetchDataset: ${name} has no download URL`);
  const baseUrl = base.endsWith('/') ? base : `${base}/`;
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new Error(`${dir}: cannot create the dataset directory (${(error as Error).message})`);
  }

  const files: FetchedFile[] = [];
  for (const [index, file] of info.files.entries()) {
    const url = `${baseUrl}${file.name}`;
    const path = `${dir}/${file.name}`;
    const report = (bytes: number, total: number | undefined, state: FetchProgress['state']) =>
      options.onProgress?.({ dataset: name, file: file.name, url, index, count: info.files.length, bytes, total, state });
    const present = await fileMd5(path);
    if (present && present.md5 === file.md5.toLowerCase()) {
      report(present.bytes, present.bytes, 'present');
      files.push({ name: file.name, path, url, md5: present.md5, bytes: present.bytes, downloaded: false });
      continue;
    }
    const bytes = await download(url, path, file, options, report);
    files.push({ name: file.name, path, url, md5: file.md5.toLowerCase(), bytes, downloaded: true });
  }
  return { name, dir, files };
}

/** Streams `url` to `<path>.part`, verifies the MD5, renames; returns the byte count. */
async function download(
  url: string,
  path: string,
  file: DatasetFile,
  options: FetchOptions,
  report: (bytes: number, total: number | undefined, state: FetchProgress['state']) => void,
): Promise<number> {
  const fs = nodeBuiltin('node:fs', 'fetchDataset');
  const idleMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  const idle = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** (Re)starts the idle clock: called when the request starts and whenever bytes arrive. */
  const alive = () => {
    if (idleMs <= 0) return;
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(new IdleTimeout(`no data from the server for ${idleMs / 1000} s (idle timeout)`)), idleMs);
  };
  const signal = options.signal ? AbortSignal.any([options.signal, idle.signal]) : idle.signal;
  try {
    alive();
    return await downloadBody(url, path, file, options, report, signal, alive, fs);
  } finally {
    clearTimeout(timer);
  }
}

async function downloadBody(
  url: string,
  path: string,
  file: DatasetFile,
  options: FetchOptions,
  report: (bytes: number, total: number | undefined, state: FetchProgress['state']) => void,
  signal: AbortSignal,
  alive: () => void,
  fs: typeof import('node:fs'),
): Promise<number> {
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: 'follow', headers: { 'accept-encoding': 'identity' } });
  } catch (error) {
    throw new Error(`${url}: ${describeFailure(error, signal)}`, { cause: error });
  }
  alive();
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => {});
    throw new Error(`${url}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
  }
  const lengthHeader = response.headers.get('content-length');
  const announced = lengthHeader !== null && /^[0-9]+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  if (announced !== undefined && file.bytes !== undefined && announced !== file.bytes) {
    await response.body.cancel().catch(() => {});
    throw new Error(`${url}: the server announces ${announced} bytes, the published ${file.name} has ${file.bytes}`);
  }
  const total = announced ?? file.bytes;
  const cap = file.bytes ?? options.maxBytes ?? MAX_DOWNLOAD_BYTES;

  const part = `${path}.part`;
  const hash = nodeBuiltin('node:crypto', 'fetchDataset').createHash('md5');
  let received = 0;
  let handle: import('node:fs/promises').FileHandle | undefined;
  try {
    handle = await fs.promises.open(part, 'w');
    const reader = response.body.getReader();
    report(0, total, 'downloading');
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw new Error(`${url}: ${describeFailure(error, signal)} after ${received} bytes`, { cause: error });
      }
      if (chunk.done) break;
      alive();
      received += chunk.value.length;
      if (received > cap) {
        await reader.cancel().catch(() => {});
        throw new Error(`${url}: more than ${cap} bytes, ${file.bytes !== undefined ? `the published size of ${file.name}` : 'the download limit'}: refused`);
      }
      hash.update(chunk.value);
      await handle.write(chunk.value);
      report(received, total, 'downloading');
    }
    await handle.close();
    handle = undefined;
    if (announced !== undefined && received !== announced) throw new Error(`${url}: truncated: ${received} of the announced ${announced} bytes`);
    const md5 = hash.digest('hex');
    if (md5 !== file.md5.toLowerCase()) {
      throw new Error(
        `${file.name}: MD5 mismatch: expected ${file.md5.toLowerCase()}, got ${md5} (${received} bytes from ${url}); ` +
          'the download is corrupt or the server sent a different file, so it was removed',
      );
    }
    await fs.promises.rename(part, path);
  } catch (error) {
    await handle?.close().catch(() => {});
    await fs.promises.rm(part, { force: true }).catch(() => {});
    throw error;
  }
  report(received, received, 'done');
  return received;
}
