// CIFAR-10/100 loaders, the tar reader they use, and host-side augmentation: round trips on small
// fixture files written here, every corruption, fuzzing, and the crop/flip contract.
// Host-side only: no device is opened.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  applyCropFlip,
  augmentBatch,
  augmentParams,
  augmentSeed,
  blackPixel,
  type AugmentParams,
} from '../src/data/augment.js';
import { batches, SeededRandom } from '../src/data/batches.js';
import {
  CIFAR10_CLASS_NAMES,
  cifarFromArchive,
  decodeCifarRecords,
  loadCifar10,
  loadCifar100,
  locateCifar,
  type CifarDataset,
} from '../src/data/cifar.js';
import { readTarFiles, readTarGz, tarEntries } from '../src/data/tar.js';
import { cifar10Files, cifarBatch, concat, folderMembers, longNameMembers, makeTar, setChecksum, tarHeader, type TarMember } from './helpers/tar.js';
import { errorOf, randomBytes } from './helpers/fixtures.js';

const tempRoot = mkdtempSync(join(tmpdir(), 'sll-cifar-test-'));
afterAll(() => rmSync(tempRoot, { recursive: true, force: true }));
const tempDirPath = () => mkdtempSync(join(tempRoot, 'd'));

const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

describe('tar reader', () => {
  it('reads ustar, prefixed, GNU long-name and pax-path entries, skipping directories and links', () => {
    const longName = `deep/${'x'.repeat(150)}/file.bin`;
    const pax = '30 path=pax/named/file.txt\n';
    const archive = makeTar([
      { name: 'top/', type: '5' },
      { name: './top/a.txt', data: 'hello' },
      { name: 'b.bin', prefix: 'top/prefixed', data: new Uint8Array(700).fill(7) },
      ...longNameMembers(longName, 'long'),
      { name: 'PaxHeaders/x', type: 'x', data: `${pax.length.toString().padStart(2)}${pax.slice(2)}` },
      { name: 'ignored-short-name', data: 'pax data' },
      { name: 'link', type: '2' },
      { name: 'empty.txt' },
    ]);
    const entries = [...tarEntries(archive, 'fixture.tar')];
    expect(entries.map((e) => [e.name, e.type, e.size])).toEqual([
      ['top', 'directory', 0],
      ['top/a.txt', 'file', 5],
      ['top/prefixed/b.bin', 'file', 700],
      [longName, 'file', 4],
      ['pax/named/file.txt', 'file', 8],
      ['link', 'symlink', 0],
      ['empty.txt', 'file', 0],
    ]);
    const files = readTarFiles(archive, 'fixture.tar');
    expect([...files.keys()]).toEqual(['top/a.txt', 'top/prefixed/b.bin', longName, 'pax/named/file.txt', 'empty.txt']);
    expect(text(files.get('top/a.txt'))).toBe('hello');
    expect(files.get('top/prefixed/b.bin')!.every((b) => b === 7)).toBe(true);
    // Views into the archive, not copies.
    expect(files.get('top/a.txt')!.buffer).toBe(archive.buffer);
    // The same through gzip; a GNU-format header ignores the prefix field.
    expect(text(readTarGz(gzipSync(archive), 'fixture.tar.gz').get(longName))).toBe('long');
    const gnu = makeTar([{ name: 'plain', prefix: 'not-a-prefix', format: 'gnu', data: 'g' }]);
    expect([...readTarFiles(gnu, 'gnu.tar').keys()]).toEqual(['plain']);
  });

  it('accepts an archive without its end blocks, and numeric fields in GNU base-256', () => {
    const archive = makeTar([{ name: 'a', data: 'abc' }]);
    expect(text(readTarFiles(archive.subarray(0, 1024), 'short.tar').get('a'))).toBe('abc');
    const header = tarHeader({ name: 'b' }, 3);
    header.fill(0, 124, 136);
    header[124] = 0x80;
    header[135] = 3;
    setChecksum(header);
    const binary = concat([header, new Uint8Array(512).fill(0x41)]);
    expect(text(readTarFiles(binary, 'b256.tar').get('b'))).toBe('AAA');
  });

  const good = makeTar([{ name: 'ok.txt', data: 'fine' }, { name: 'second.bin', data: new Uint8Array(600) }]);
  const badChecksum = good.slice();
  badChecksum[5]! ^= 0x01; // a byte of the first name
  const secondHeader = good.slice();
  secondHeader[1024 + 124] = 0x39; // '9' in the second entry's octal size
  const hugeClaim = makeTar([{ name: 'huge.bin', data: 'x', sizeField: '77777777777\0' }]);
  const hugeBinary = (() => {
    const header = tarHeader({ name: 'huge.bin' }, 0);
    header.fill(0xff, 125, 136);
    header[124] = 0x80;
    setChecksum(header);
    return concat([header, new Uint8Array(1024)]);
  })();
  const cases: [string, Uint8Array, RegExp][] = [
    ['a bad header checksum', badChecksum, /^bad\.tar: entry 0 at byte 0: bad header checksum: the header says \d+, its bytes sum to \d+/],
    ['a malformed size field', secondHeader, /^bad\.tar: entry 1 at byte 1024: bad header checksum/],
    ['a size past the end (8 GiB claimed in 2 KB)', hugeClaim, /^bad\.tar: entry 0 at byte 0: size 8589934591 runs past the end of the archive \(1536 bytes left\)/],
    ['a base-256 size beyond 2^53', hugeBinary, /^bad\.tar: entry 0 at byte 0: size field is a base-256 number beyond 2\^53/],
    ['a truncated header', good.subarray(0, 1024 + 188), /^bad\.tar: entry 1 at byte 1024: truncated: 188 bytes left, less than a 512-byte header/],
    ['truncated padding', good.subarray(0, 700), /^bad\.tar: entry 0 at byte 0: truncated: the archive ends inside the entry's padding/],
    ['truncated data', good.subarray(0, 1024 + 512 + 100), /^bad\.tar: entry 1 at byte 1024: size 600 runs past the end of the archive \(100 bytes left\)/],
    ['a path traversal entry', makeTar([{ name: 'cifar/../../etc/passwd', data: 'x' }]), /^bad\.tar: entry 0 at byte 0: name "cifar\/\.\.\/\.\.\/etc\/passwd" has a '\.\.' component, refused \(path traversal\)/],
    ['a traversal in a GNU long name', makeTar(longNameMembers(`${'a/'.repeat(60)}../x`, 'x')), /^bad\.tar: entry 1 at byte 1024: name ".*" has a '\.\.' component/],
    ['an absolute path', makeTar([{ name: '/etc/passwd', data: 'x' }]), /^bad\.tar: entry 0 at byte 0: absolute path "\/etc\/passwd" refused/],
    ['an absolute ustar prefix', makeTar([{ name: 'passwd', prefix: '/etc', data: 'x' }]), /absolute path "\/etc\/passwd" refused/],
    ['a Windows drive path', makeTar([{ name: 'C:evil', data: 'x' }]), /absolute path "C:evil" refused/],
    ['a backslash', makeTar([{ name: '..\\evil', data: 'x' }]), /contains a backslash, refused/],
    ['a duplicate name', makeTar([{ name: 'a', data: '1' }, { name: './a', data: '2' }]), /^bad\.tar: entry at byte 1024 \(a\): the name appears twice/],
    ['random bytes', new Uint8Array(512).fill(0x41), /^bad\.tar: entry 0 at byte 0: header checksum field is not an octal number/],
  ];
  for (const [what, bytes, message] of cases) {
    it(`rejects ${what}, naming the archive and entry`, () => {
      expect(errorOf(() => readTarFiles(bytes, 'bad.tar'))).toMatch(message);
    });
  }

  it('stops decompressing at the size limit and names corrupt gzip', () => {
    const bomb = gzipSync(makeTar([{ name: 'zeros', data: new Uint8Array(1 << 20) }]));
    expect(bomb.length).toBeLessThan(5000);
    expect(errorOf(() => readTarGz(bomb, 'bomb.tar.gz', { maxBytes: 4096 }))).toMatch(/^bomb\.tar\.gz: gzip data decompresses to more than 4096 bytes/);
    expect(errorOf(() => readTarGz(bomb.subarray(0, 40), 'cut.tar.gz'))).toMatch(/^cut\.tar\.gz: corrupt or truncated gzip data/);
  });
});

/** Writes CIFAR-10 fixture files into `<dir>/cifar-10-batches-bin` (minus `omit`). */
function writeCifar10(dir: string, edit: Record<string, Uint8Array | null> = {}, perBatch = 2) {
  const fixture = cifar10Files(perBatch);
  const folder = join(dir, 'cifar-10-batches-bin');
  mkdirSync(folder, { recursive: true });
  for (const [name, bytes] of Object.entries({ ...fixture.files, ...edit })) if (bytes) writeFileSync(join(folder, name), bytes);
  return { ...fixture, folder };
}

function cifar10Archive(edit: Record<string, Uint8Array | null> = {}, extra: TarMember[] = []): Uint8Array {
  const fixture = cifar10Files();
  const files = Object.fromEntries(Object.entries({ ...fixture.files, ...edit }).filter(([, v]) => v)) as Record<string, Uint8Array>;
  return gzipSync(makeTar([...folderMembers('cifar-10-batches-bin', files), ...extra]));
}

/** Checks a loaded CIFAR-10 fixture against the bytes it was written from. */
function expectCifar10(dataset: CifarDataset, fixture: ReturnType<typeof cifar10Files>) {
  expect(dataset.name).toBe('cifar10');
  expect(dataset.shape).toEqual([3, 32, 32]);
  expect(dataset.classes).toBe(10);
  expect(dataset.classNames).toEqual(CIFAR10_CLASS_NAMES);
  expect([dataset.train.count, dataset.test.count]).toEqual([10, 2]);
  expect(Array.from(dataset.train.labels)).toEqual(fixture.train.flatMap((b) => b.labels));
  expect(Array.from(dataset.test.labels)).toEqual(fixture.test.labels);
  const trainPixels = concat(fixture.train.map((b) => b.pixels));
  // The single mean/std of makeDataset over the [0, 1] training pixels.
  let sum = 0;
  for (const p of trainPixels) sum += p / 255;
  const mean = sum / trainPixels.length;
  let squares = 0;
  for (const p of trainPixels) squares += (p / 255 - mean) ** 2;
  const std = Math.sqrt(squares / trainPixels.length);
  expect(dataset.mean).toBeCloseTo(mean, 12);
  expect(dataset.std).toBeCloseTo(std, 12);
  for (const i of [0, 1, 1023, 1024, 3071, 3072, trainPixels.length - 1]) {
    expect(dataset.train.images[i]).toBe(Math.fround((trainPixels[i]! / 255 - mean) / std));
  }
  expect(dataset.test.images[5]).toBe(Math.fround((fixture.test.pixels[5]! / 255 - mean) / std));
  // Channel statistics: channel c of record r is bytes [r*3072 + c*1024, +1024).
  for (let c = 0; c < 3; c++) {
    const values: number[] = [];
    for (let r = 0; r < 10; r++) for (let i = 0; i < 1024; i++) values.push(trainPixels[r * 3072 + c * 1024 + i]! / 255);
    const m = values.reduce((a, b) => a + b, 0) / values.length;
    expect(dataset.channelMean[c]).toBeCloseTo(m, 12);
    expect(dataset.channelStd[c]).toBeCloseTo(Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / values.length), 12);
  }
}

describe('CIFAR-10 loader', () => {
  it('loads the extracted folder, its parent, the tarball and a directory holding the tarball, identically', () => {
    const parent = tempDirPath();
    const written = writeCifar10(parent);
    const fromFolder = loadCifar10(written.folder);
    expectCifar10(fromFolder, written);
    expect(loadCifar10(parent)).toEqual(fromFolder);

    const archiveDir = tempDirPath();
    const archivePath = join(archiveDir, 'cifar-10-binary.tar.gz');
    writeFileSync(archivePath, cifar10Archive());
    expect(loadCifar10(archivePath)).toEqual(fromFolder);
    expect(loadCifar10(archiveDir)).toEqual(fromFolder);
    // An uncompressed tar in memory too.
    const fixture = cifar10Files();
    expect(cifarFromArchive('cifar10', makeTar(folderMembers('cifar-10-batches-bin', fixture.files)), 'x.tar')).toEqual(fromFolder);

    expect(locateCifar('cifar10', written.folder)).toEqual({ kind: 'folder', path: written.folder });
    expect(locateCifar('cifar10', parent)).toEqual({ kind: 'folder', path: written.folder });
    expect(locateCifar('cifar10', archiveDir)).toEqual({ kind: 'archive', path: archivePath });
    expect(locateCifar('cifar10', tempDirPath())).toBeUndefined();
  });

  it('keeps values in [0, 1] without normalization', () => {
    const { folder, train } = writeCifar10(tempDirPath());
    const dataset = loadCifar10(folder, { normalize: false });
    expect([dataset.mean, dataset.std]).toEqual([0, 1]);
    expect(dataset.train.images[7]).toBe(Math.fround(train[0]!.pixels[7]! / 255));
  });

  it('rejects a truncated record, an empty file and trailing bytes, naming the file', () => {
    const truncated = writeCifar10(tempDirPath(), { 'data_batch_2.bin': cifarBatch(2, 'cifar10', 2).bytes.subarray(0, 3073 + 100) });
    expect(errorOf(() => loadCifar10(truncated.folder))).toBe(
      `${truncated.folder}/data_batch_2.bin: 3173 bytes is not a whole number of 3073-byte records (1 label byte + 3072 pixels): 1 records and 100 bytes over (truncated, or not a CIFAR-10 binary file)`,
    );
    const empty = writeCifar10(tempDirPath(), { 'test_batch.bin': new Uint8Array(0) });
    expect(errorOf(() => loadCifar10(empty.folder))).toBe(`${empty.folder}/test_batch.bin: empty file: it holds no images, expected 3073-byte records (1 label byte + 3072 pixels)`);
    // CIFAR-100 records (3074 bytes) given as CIFAR-10.
    const wrongFormat = writeCifar10(tempDirPath(), { 'data_batch_1.bin': cifarBatch(3073, 'cifar100', 1).bytes.subarray(0, 3074 * 5) });
    expect(errorOf(() => loadCifar10(wrongFormat.folder))).toMatch(/data_batch_1\.bin: 15370 bytes is not a whole number of 3073-byte records/);
  });

  it('names a missing batch, in a folder and in an archive', () => {
    const missing = writeCifar10(tempDirPath(), { 'data_batch_3.bin': null });
    expect(errorOf(() => loadCifar10(missing.folder))).toBe(
      `${missing.folder}/data_batch_3.bin: missing (CIFAR-10 needs data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin)`,
    );
    // From the parent too: the folder exists, so it is the one reported, not "nothing here".
    expect(errorOf(() => loadCifar10(join(missing.folder, '..')))).toMatch(/cifar-10-batches-bin\/data_batch_3\.bin: missing/);
    expect(locateCifar('cifar10', missing.folder)).toBeUndefined();
    const dir = tempDirPath();
    writeFileSync(join(dir, 'cifar-10-binary.tar.gz'), cifar10Archive({ 'test_batch.bin': null }));
    expect(errorOf(() => loadCifar10(dir))).toBe(
      `${dir}/cifar-10-binary.tar.gz member cifar-10-batches-bin/test_batch.bin: missing (CIFAR-10 needs data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin)`,
    );
  });

  it('rejects a label out of range, naming the file and record', () => {
    const bytes = cifarBatch(3, 'cifar10', 4).bytes;
    bytes[2 * 3073] = 10;
    const { folder } = writeCifar10(tempDirPath(), { 'data_batch_4.bin': bytes });
    expect(errorOf(() => loadCifar10(folder))).toBe(`${folder}/data_batch_4.bin: record 2 (byte 6146) has label 10, outside [0, 10): corrupt or not a CIFAR-10 file`);
  });

  it('rejects corrupt archives: bad tar checksum, path traversal, truncated gzip', () => {
    const dir = tempDirPath();
    const path = join(dir, 'cifar-10-binary.tar.gz');
    const tar = makeTar(folderMembers('cifar-10-batches-bin', cifar10Files().files));
    tar[512 + 10]! ^= 0x20; // the second header's name (the first member file)
    writeFileSync(path, gzipSync(tar));
    expect(errorOf(() => loadCifar10(path))).toMatch(new RegExp(`^${path}: entry 1 at byte 512: bad header checksum`));
    writeFileSync(path, cifar10Archive({}, [{ name: 'cifar-10-batches-bin/../../../home/user/.bashrc', data: 'evil' }]));
    expect(errorOf(() => loadCifar10(path))).toMatch(/has a '\.\.' component, refused \(path traversal\)/);
    writeFileSync(path, cifar10Archive().subarray(0, 200));
    expect(errorOf(() => loadCifar10(path))).toMatch(new RegExp(`^${path}: corrupt or truncated gzip data`));
    expect(errorOf(() => loadCifar10(path, { maxArchiveBytes: 100 }))).toMatch(/cannot read the CIFAR-10 archive: 200 bytes exceeds the limit of 100/);
  });

  it('says what it expected when the path holds nothing or does not exist', () => {
    const empty = tempDirPath();
    expect(errorOf(() => loadCifar10(empty))).toBe(
      `${empty}: no CIFAR-10 here: expected data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin in it or in cifar-10-batches-bin/, or cifar-10-binary.tar.gz`,
    );
    const nowhere = join(tempRoot, 'nowhere');
    expect(errorOf(() => loadCifar10(nowhere))).toMatch(new RegExp(`^${nowhere}: no such file or directory`));
  });
});

describe('CIFAR-100 loader', () => {
  function cifar100Archive(names: Record<string, string | null> = {}) {
    const train = cifarBatch(5, 'cifar100', 1);
    const test = cifarBatch(3, 'cifar100', 2);
    const files: Record<string, Uint8Array> = { 'train.bin': train.bytes, 'test.bin': test.bytes };
    const fine = Array.from({ length: 100 }, (_, i) => `fine_${i}`).join('\n') + '\n';
    const coarse = Array.from({ length: 20 }, (_, i) => `coarse_${i}`).join('\r\n') + '\r\n\r\n';
    const texts: Record<string, string | null> = { 'fine_label_names.txt': fine, 'coarse_label_names.txt': coarse, ...names };
    for (const [name, value] of Object.entries(texts)) if (value !== null) files[name] = new TextEncoder().encode(value);
    return { bytes: gzipSync(makeTar(folderMembers('cifar-100-binary', files))), train, test };
  }

  it('loads fine labels by default and coarse on request, with names from the label-names files', () => {
    const { bytes, train, test } = cifar100Archive();
    const dir = tempDirPath();
    writeFileSync(join(dir, 'cifar-100-binary.tar.gz'), bytes);
    const fine = loadCifar100(dir);
    expect(fine.name).toBe('cifar100');
    expect([fine.classes, fine.train.count, fine.test.count]).toEqual([100, 5, 3]);
    expect(Array.from(fine.train.labels)).toEqual(train.labels);
    expect(Array.from(fine.test.labels)).toEqual(test.labels);
    expect(fine.classNames[42]).toBe('fine_42');
    const coarse = loadCifar100(dir, { coarse: true });
    expect(coarse.name).toBe('cifar100-coarse');
    expect([coarse.classes, coarse.classNames.length, coarse.classNames[19]]).toEqual([20, 20, 'coarse_19']);
    expect(Array.from(coarse.train.labels)).toEqual(train.coarse);
    expect(coarse.train.images).toEqual(fine.train.images);
    expect(errorOf(() => loadCifar10(dir, { coarse: true } as never))).toMatch(/CIFAR-10 has no coarse labels/);
  });

  it('numbers the classes without a names file and rejects a names file of the wrong length', () => {
    const archive = 'cifar-100-binary.tar.gz';
    const without = cifarFromArchive('cifar100', cifar100Archive({ 'fine_label_names.txt': null }).bytes, archive);
    expect(without.classNames.slice(0, 2)).toEqual(['class 0', 'class 1']);
    expect(errorOf(() => cifarFromArchive('cifar100', cifar100Archive({ 'fine_label_names.txt': 'a\nb\n' }).bytes, archive))).toBe(
      'cifar-100-binary.tar.gz member cifar-100-binary/fine_label_names.txt: 2 class names, expected 100, one a line',
    );
  });

  it('checks both labels of every record', () => {
    const bytes = cifarBatch(2, 'cifar100', 3).bytes;
    bytes[3074] = 20; // coarse label of record 1
    expect(errorOf(() => decodeCifarRecords(bytes, 'train.bin', 'cifar100'))).toBe('train.bin: record 1 (byte 3074) has coarse label 20, outside [0, 20): corrupt or not a CIFAR-100 file');
    bytes[3074] = 0;
    bytes[3075] = 100;
    expect(errorOf(() => decodeCifarRecords(bytes, 'train.bin', 'cifar100', { coarse: true }))).toMatch(/^train\.bin: record 1 \(byte 3075\) has fine label 100, outside \[0, 100\)/);
    expect(errorOf(() => decodeCifarRecords(bytes.subarray(0, 3073), 'train.bin', 'cifar100'))).toMatch(/3073 bytes is not a whole number of 3074-byte records \(2 label bytes/);
  });
});

describe('CIFAR fuzzing', () => {
  it('random bytes, truncations and bit flips of archives and batch files only ever throw Errors', () => {
    const random = new SeededRandom(77);
    const tar = makeTar(folderMembers('cifar-10-batches-bin', cifar10Files(1).files));
    const gz = gzipSync(tar);
    const batch = cifarBatch(2, 'cifar10', 9).bytes;
    const variants = (good: Uint8Array, n: number): Uint8Array[] => {
      const out: Uint8Array[] = [];
      for (let i = 0; i < n; i++) {
        const kind = random.below(4);
        if (kind === 0) out.push(good.subarray(0, random.below(good.length)));
        else if (kind === 1) out.push(randomBytes(random.below(2048), random));
        else {
          const flipped = good.slice();
          const flips = 1 + random.below(kind === 2 ? 2 : 16);
          // Bias flips towards headers, where the interesting parsing is.
          for (let f = 0; f < flips; f++) {
            const at = random.below(3) === 0 ? random.below(flipped.length) : (random.below(8) * 512 + random.below(512)) % flipped.length;
            flipped[at]! ^= 1 << random.below(8);
          }
          out.push(flipped);
        }
      }
      return out;
    };
    let loaded = 0;
    let refused = 0;
    const started = performance.now();
    for (const [bytes, format] of [
      ...variants(tar, 400).map((b) => [b, 'cifar10'] as const),
      ...variants(gz, 150).map((b) => [b, 'cifar10'] as const),
      ...variants(batch, 150).map((b) => [b, 'batch'] as const),
    ]) {
      try {
        if (format === 'batch') decodeCifarRecords(bytes, 'fuzz.bin', 'cifar10');
        else cifarFromArchive('cifar10', bytes, 'fuzz.tar', { maxArchiveBytes: 1 << 20 });
        loaded++;
      } catch (error) {
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).toMatch(/^(fuzz\.(tar|bin)|CIFAR)/);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(300);
    expect(loaded).toBeGreaterThan(0); // flips in pixel bytes still load
    expect(performance.now() - started).toBeLessThan(20_000);
  });
});

describe('augmentation', () => {
  const shape = [3, 5, 6] as const;
  const size = 3 * 5 * 6;
  /** Example b, channel c, pixel (y, x) holds a value naming it. */
  function numberedBatch(count: number): Float32Array {
    const images = new Float32Array(count * size);
    for (let i = 0; i < images.length; i++) images[i] = i + 1;
    return images;
  }
  const params = (count: number, offsetY: number, offsetX: number, flip: number): AugmentParams => ({
    offsetY: new Int32Array(count).fill(offsetY),
    offsetX: new Int32Array(count).fill(offsetX),
    flip: new Uint8Array(count).fill(flip),
  });

  /** Independent reference: pad into a bigger array, take the window, then mirror. */
  function reference(images: Float32Array, p: AugmentParams, pad: number, fill: number): Float32Array {
    const [C, H, W] = shape;
    const out = new Float32Array(images.length);
    const count = images.length / size;
    for (let b = 0; b < count; b++) {
      for (let c = 0; c < C; c++) {
        const padded = new Float32Array((H + 2 * pad) * (W + 2 * pad)).fill(fill);
        for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) padded[(y + pad) * (W + 2 * pad) + x + pad] = images[((b * C + c) * H + y) * W + x]!;
        for (let y = 0; y < H; y++) {
          const window = Array.from({ length: W }, (_, x) => padded[(y + p.offsetY[b]!) * (W + 2 * pad) + x + p.offsetX[b]!]!);
          if (p.flip[b]) window.reverse();
          out.set(window, ((b * C + c) * H + y) * W);
        }
      }
    }
    return out;
  }

  it('flip twice is the identity; an unshifted crop and no pad are the identity', () => {
    const images = numberedBatch(4);
    const flipped = applyCropFlip(images, params(4, 0, 0, 1), { shape, pad: 0, fill: 0 });
    expect(flipped).not.toEqual(images);
    expect(flipped[0]).toBe(images[5]); // row 0 reversed
    expect(applyCropFlip(flipped, params(4, 0, 0, 1), { shape, pad: 0, fill: 0 })).toEqual(images);
    expect(applyCropFlip(images, params(4, 0, 0, 0), { shape, pad: 0, fill: 0 })).toEqual(images);
    expect(applyCropFlip(images, params(4, 2, 2, 0), { shape, pad: 2, fill: -9 })).toEqual(images);
    // With pad 0 the only crop is the whole image.
    const noPad = augmentBatch(images, { shape, pad: 0, fill: 0, seed: 1, epoch: 0, batchIndex: 0, flipProbability: 0 });
    expect(noPad).toEqual(images);
  });

  it('matches an independent pad-then-crop-then-flip reference for every offset', () => {
    const images = numberedBatch(2);
    for (let oy = 0; oy <= 4; oy++) {
      for (let ox = 0; ox <= 4; ox++) {
        for (const flip of [0, 1]) {
          const p = params(2, oy, ox, flip);
          expect(applyCropFlip(images, p, { shape, pad: 2, fill: -1.5 })).toEqual(reference(images, p, 2, -1.5));
        }
      }
    }
    // Shifted down by one (offset 0 with pad 1): the first row is fill, the rest the image's rows.
    const down = applyCropFlip(images, params(2, 0, 1, 0), { shape, pad: 1, fill: -7 });
    expect(Array.from(down.subarray(0, 6))).toEqual(new Array(6).fill(-7));
    expect(Array.from(down.subarray(6, 12))).toEqual(Array.from(images.subarray(0, 6)));
    // Per-channel fill.
    const perChannel = applyCropFlip(images, params(2, 0, 0, 0), { shape, pad: 1, fill: [-1, -2, -3] });
    expect([perChannel[0], perChannel[30], perChannel[60]]).toEqual([-1, -2, -3]);
  });

  it('keeps shapes and rejects bad arguments', () => {
    const images = numberedBatch(3);
    const out = augmentBatch(images, { shape, fill: 0, seed: 0, epoch: 0, batchIndex: 0, pad: 2 });
    expect(out.length).toBe(images.length);
    expect(out).not.toBe(images);
    expect(errorOf(() => augmentBatch(images.subarray(1), { shape, fill: 0, seed: 0, epoch: 0, batchIndex: 0 }))).toMatch(/269 values are not a whole number of \[3, 5, 6\] examples/);
    expect(errorOf(() => augmentBatch(images, { shape, fill: 0, seed: 0, epoch: 0, batchIndex: 0, pad: 6 }))).toMatch(/pad 6 exceeds the 5x6 image/);
    expect(errorOf(() => applyCropFlip(images, params(3, 0, 0, 0), { shape, fill: [0, 0], pad: 0 }))).toMatch(/2 fill values for 3 channels/);
    expect(errorOf(() => applyCropFlip(images, params(2, 0, 0, 0), { shape, fill: 0, pad: 0 }))).toMatch(/parameters for 2 examples, the batch has 3/);
    expect(errorOf(() => applyCropFlip(images, params(3, 0, 0, 0), { shape, fill: 0, pad: 0 }, images))).toMatch(/must not be the input/);
    expect(errorOf(() => augmentParams(1, { seed: -1, epoch: 0, batchIndex: 0 }))).toMatch(/seed -1 is not a non-negative safe integer/);
    expect(blackPixel({ mean: 0.5, std: 0.25 })).toBe(-2);
  });

  it('is deterministic in (seed, epoch, batch index), pinned, and differs across them', () => {
    const a = augmentParams(6, { seed: 1, epoch: 2, batchIndex: 3 });
    // Pinned: a change to the stream would silently change every augmented run.
    expect([Array.from(a.offsetY), Array.from(a.offsetX), Array.from(a.flip)]).toEqual([
      [2, 2, 1, 4, 0, 3],
      [7, 1, 0, 8, 4, 7],
      [1, 0, 1, 0, 0, 0],
    ]);
    expect(augmentParams(6, { seed: 1, epoch: 2, batchIndex: 3 })).toEqual(a);
    for (const other of [{ seed: 2, epoch: 2, batchIndex: 3 }, { seed: 1, epoch: 3, batchIndex: 3 }, { seed: 1, epoch: 2, batchIndex: 4 }]) {
      expect(augmentParams(6, other)).not.toEqual(a);
    }
    expect(augmentSeed(1, 2)).not.toBe(augmentSeed(2, 1));
    expect(Number.isSafeInteger(augmentSeed(2 ** 40, 2 ** 40))).toBe(true);
    // Options do not shift the draws: without crop, the flips are the same.
    expect(augmentParams(6, { seed: 1, epoch: 2, batchIndex: 3, crop: false }).flip).toEqual(a.flip);
  });

  it('reproduces a resumed epoch bitwise', () => {
    const count = 23;
    const pixels = new Float32Array(count * size);
    for (let i = 0; i < pixels.length; i++) pixels[i] = Math.sin(i);
    const split = { images: pixels, labels: new Int32Array(count), count };
    const augmentAll = (startBatch: number) =>
      [...batches(split, { batchSize: 5, seed: 8, epoch: 1, startBatch })].map((b) => augmentBatch(b.images, { shape, fill: -0.5, seed: 8, epoch: b.epoch, batchIndex: b.index, pad: 2 }));
    const full = augmentAll(0);
    expect(augmentAll(3)).toEqual(full.slice(3));
    const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
    expect(bits(augmentAll(2)[0]!)).toEqual(bits(full[2]!));
  });

  it('flips about half the examples and spreads the offsets evenly', () => {
    const n = 20000;
    const p = augmentParams(n, { seed: 5, epoch: 0, batchIndex: 0, pad: 4 });
    const flips = p.flip.reduce((a, b) => a + b, 0);
    // Binomial(20000, 0.5): std 70.7; 4 std.
    expect(Math.abs(flips - n / 2)).toBeLessThan(283);
    const counts = new Array<number>(9).fill(0);
    for (const y of p.offsetY) counts[y]!++;
    for (const c of counts) expect(Math.abs(c - n / 9)).toBeLessThan(4 * Math.sqrt((n * 8) / 81));
    expect(Math.min(...p.offsetX)).toBe(0);
    expect(Math.max(...p.offsetX)).toBe(8);
    const never = augmentParams(100, { seed: 5, epoch: 0, batchIndex: 0, flipProbability: 0 });
    const always = augmentParams(100, { seed: 5, epoch: 0, batchIndex: 0, flipProbability: 1 });
    expect([never.flip.reduce((a, b) => a + b, 0), always.flip.reduce((a, b) => a + b, 0)]).toEqual([0, 100]);
  });
});
