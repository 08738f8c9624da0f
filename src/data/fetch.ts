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
 * is of the file as published. Errors name the URL (HTTP status, connection failure in words, a
 * body cut short with the bytes that arrived and those announced, abort) or the file (digest
 * mismatch, with the expected and actual digests); the mirror must be an http(s) URL, and the
 * idle timeout fit a Node timer (MAX_TIMER_MS).
 *
 * Node only (files); importing this file is browser-safe: Node's modules are fetched at call time.
 */
import { fileFailure, nodeBuiltin } from '../platform/nodeBuiltins.js';
import { datasetCacheDir, datasetInfo, locateDataset, processEnv, type DataEnv, type DatasetFile, type DatasetRegistry } from './registry.js';

/** Default cap on a file without a published size: 2 GiB. */
export const MAX_DOWNLOAD_BYTES = 2 ** 31;

/**
 * The longest delay a Node timer keeps: 2^31 - 1 ms (24.8 days). setTimeout turns a longer one
 * into 1 ms (with a TimeoutOverflowWarning) and AbortSignal.timeout refuses one above 2^32 - 1,
 * so every timeout given to fetchDataset (and by `sll data fetch`) is checked against this.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

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

/** What the system error codes a download meets mean, in words. */
const NETWORK_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  ECONNABORTED: 'connection aborted',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be looked up (DNS), try again later',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  EPIPE: 'the connection was closed while sending',
  EPROTO: 'protocol error',
  CERT_HAS_EXPIRED: "the server's TLS certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's TLS certificate is self-signed",
  SELF_SIGNED_CERT_IN_CHAIN: "the server's TLS certificate chain holds a self-signed certificate",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server's TLS certificate cannot be verified",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the issuer of the server's TLS certificate is unknown",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's TLS certificate is for another host name",
  UND_ERR_SOCKET: 'the server closed the connection',
  UND_ERR_CONNECT_TIMEOUT: 'connecting timed out',
  UND_ERR_HEADERS_TIMEOUT: 'the server sent no response headers in time',
  UND_ERR_BODY_TIMEOUT: 'the server stopped sending the body',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'the body is shorter or longer than its Content-Length',
  UND_ERR_HEADERS_OVERFLOW: 'the response headers are too large',
};

/**
 * Why a request failed, in words, from fetch's error: fetch (undici) throws "fetch failed" and
 * puts the reason in `cause`, with a code (ECONNREFUSED, ...) that is named after the words when
 * it is a system one; codes of Node's own (ERR_..., UND_ERR_...) are not shown. In a browser,
 * where there is no cause, the error's own message.
 */
export function requestFailure(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown; cause?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const internal = (text: string) => /^(ERR_|UND_ERR)/.test(text);
  if (code !== undefined && Object.hasOwn(NETWORK_ERRORS, code)) return internal(code) ? NETWORK_ERRORS[code]! : `${NETWORK_ERRORS[code]!} (${code})`;
  if (code !== undefined && !internal(code)) return typeof cause?.message === 'string' && cause.message.includes(code) ? cause.message : code;
  // An AggregateError (several addresses tried) carries the codes on its members.
  const inner = (cause as { errors?: unknown } | undefined)?.errors;
  if (Array.isArray(inner) && inner.length > 0) return requestFailure({ cause: inner[0] });
  const message = typeof cause?.message === 'string' && cause.message !== '' ? cause.message : (error as Error | undefined)?.message;
  return message && message !== 'fetch failed' ? message : 'the request failed without a reason';
}

/** Why a fetch call or a body read failed: an abort (the caller's signal, the idle timeout) or requestFailure. */
function describeFailure(error: unknown, signal: AbortSignal | undefined): string {
  if (signal?.aborted) {
    const reason = signal.reason as { name?: string; message?: string } | undefined;
    if (reason instanceof IdleTimeout) return reason.message;
    return `aborted (${reason?.name === 'TimeoutError' ? 'timed out' : reason?.message ?? String(reason)})`;
  }
  return `request failed: ${requestFailure(error)}`;
}

/**
 * What is wrong with a download base URL, or undefined when it is an http: or https: URL.
 * `from` says where it came from (--mirror, SLL_DATA_MIRROR, ...). fetch reads nothing else
 * (file: is "not implemented"), and files on disk need no download: they are read where they are.
 */
export function mirrorProblem(url: string, from: string): string | undefined {
  if (url.trim() === '') return `${from} is empty: give an http:// or https:// address`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${from} ${url} is not a URL: give an http:// or https:// address`;
  }
  if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return undefined;
  const disk = parsed.protocol === 'file:' ? ' Files on disk need no download: read them where they are with `sll train --data-dir DIR` (or `sll eval --data-dir DIR`).' : '';
  return `${from} ${url}: the ${parsed.protocol} scheme cannot be downloaded from; only http:// and https:// mirrors are.${disk}`;
}

/** Throws a RangeError naming the option unless the options' numbers are in range. */
function checkOptions(options: FetchOptions): void {
  const ms = options.idleTimeoutMs;
  if (ms !== undefined && (typeof ms !== 'number' || !(ms >= 0 && ms <= MAX_TIMER_MS))) {
    throw new RangeError(`fetchDataset: idleTimeoutMs must be 0 (never) or a number of milliseconds up to ${MAX_TIMER_MS} (the longest a timer waits, 24.8 days), got ${String(ms)}`);
  }
  const max = options.maxBytes;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) throw new RangeError(`fetchDataset: maxBytes must be a positive integer, got ${String(max)}`);
}

/**
 * Downloads every file of dataset `name` that is not already present and verified, into
 * `options.dir` (default its cache directory). Resolves to where the files are; rejects with an
 * Error naming the URL or file on the first failure.
 */
export async function fetchDataset(name: string, options: FetchOptions = {}): Promise<FetchResult> {
  checkOptions(options);
  const info = datasetInfo(name, options.registry);
  const env = options.env ?? processEnv();
  if (info.files.length === 0) {
    // The bundled digits: nothing to download.
    return { name, dir: locateDataset(name, { registry: options.registry, env }).dir, files: [] };
  }
  const fs = nodeBuiltin('node:fs', 'fetchDataset');
  const dir = options.dir ?? datasetCacheDir(name, env);
  const from = options.mirror !== undefined ? 'the mirror' : env.SLL_DATA_MIRROR ? 'SLL_DATA_MIRROR' : `the download URL of ${name}`;
  const base = (options.mirror ?? (env.SLL_DATA_MIRROR || info.baseUrl)).replaceAll('{name}', name);
  if (!base) throw new Error(`fetchDataset: ${name} has no download URL`);
  const problem = mirrorProblem(base, from);
  if (problem) throw new Error(problem);
  const baseUrl = base.endsWith('/') ? base : `${base}/`;
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new Error(`${dir}: cannot create the dataset directory: ${fileFailure(error)}`);
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
  let fd: number | undefined;
  /** How a body that ended early is told: what arrived, what was expected, and from where the expectation came. */
  const cutShort = () =>
    `${url}: download cut short: ${received} of the ${total} bytes ${announced !== undefined ? 'announced (Content-Length)' : `published for ${file.name}`} arrived before the connection closed`;
  // The part file is opened and written synchronously (a chunk is at most a few hundred KB),
  // so nothing between two reads waits on another event: a stream that fails drops the chunks it
  // still holds, and a body read more slowly than it arrives would lose its last bytes, and the
  // byte count with them, when the server closes the connection before the end.
  const reader = response.body.getReader();
  try {
    try {
      fd = fs.openSync(part, 'w');
    } catch (error) {
      await reader.cancel().catch(() => {});
      throw new Error(`${part}: cannot write the download: ${fileFailure(error)}`);
    }
    report(0, total, 'downloading');
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (!signal.aborted && total !== undefined && received < total) throw new Error(cutShort(), { cause: error });
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
      try {
        for (let at = 0; at < chunk.value.length; ) at += fs.writeSync(fd, chunk.value, at);
      } catch (error) {
        await reader.cancel().catch(() => {});
        throw new Error(`${part}: cannot write the download: ${fileFailure(error)}`);
      }
      report(received, total, 'downloading');
    }
    fs.closeSync(fd);
    fd = undefined;
    if (announced !== undefined && received < announced) throw new Error(cutShort());
    if (announced !== undefined && received !== announced) throw new Error(`${url}: ${received} bytes arrived, the server's Content-Length announced ${announced}`);
    const md5 = hash.digest('hex');
    if (md5 !== file.md5.toLowerCase()) {
      // A body that ended without a Content-Length is cut short or another file: the sizes say which may be.
      const size = file.bytes !== undefined && received !== file.bytes ? `, where the published file has ${file.bytes}` : '';
      throw new Error(
        `${file.name}: MD5 mismatch: expected ${file.md5.toLowerCase()}, got ${md5} (${received} bytes from ${url}${size}); ` +
          'the download is corrupt or the server sent a different file, so it was removed',
      );
    }
    try {
      fs.renameSync(part, path);
    } catch (error) {
      throw new Error(`${path}: cannot put the verified download in place: ${fileFailure(error)}`);
    }
  } catch (error) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // Already failing: the first error is the one reported.
      }
    }
    try {
      fs.rmSync(part, { force: true });
    } catch {
      // Left behind; the error that stopped the download is the one reported.
    }
    throw error;
  }
  report(received, received, 'done');
  return received;
}
