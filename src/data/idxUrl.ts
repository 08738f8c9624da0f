/**
 * A dataset in the MNIST layout read over HTTP: the four IDX files under one base URL, each raw
 * or gzip, as a page serves them (the lab loads Fashion-MNIST so). fetch and DecompressionStream
 * are all it needs, so it runs in a page, a Worker, and Node alike.
 */
import { IDX_FILES, idxDataset, type Dataset, type IdxDatasetOptions } from './datasets.js';
import { requestFailure } from './fetch.js';
import { decodeIdxImages, decodeIdxLabels, isGzip } from './idx.js';

/**
 * The four files' URLs in the folder `base` (with or without its final '/'): the IDX base names
 * with `.gz`, as Debian and the dataset's own site ship them.
 */
export function idxFileUrls(base: string | URL): Record<keyof typeof IDX_FILES, URL> {
  const folder = new URL(base);
  if (!folder.pathname.endsWith('/')) folder.pathname += '/';
  const url = (name: string) => new URL(`${name}.gz`, folder);
  return { trainImages: url(IDX_FILES.trainImages), trainLabels: url(IDX_FILES.trainLabels), testImages: url(IDX_FILES.testImages), testLabels: url(IDX_FILES.testLabels) };
}

/** The bytes at `url`, gunzipped when they are gzip (a server may also have done it already). */
async function fetchBytes(url: URL): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`${url.href}: request failed: ${requestFailure(error)}`, { cause: error });
  }
  if (!response.ok) throw new Error(`${url.href}: HTTP ${response.status} ${response.statusText}`.trim());
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw new Error(`${url.href}: the body could not be read: ${requestFailure(error)}`, { cause: error });
  }
  if (!isGzip(bytes)) return bytes;
  try {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (error) {
    throw new Error(`${url.href}: not a valid gzip file (${(error as Error).message})`);
  }
}

/**
 * Fetches, decodes and checks the four IDX files of a dataset in the folder `base`, then
 * normalizes it as loadIdxDataset does. Errors name the URL at fault.
 */
export async function fetchIdxDataset(base: string | URL, options: IdxDatasetOptions & { name: string }): Promise<Dataset> {
  const urls = idxFileUrls(base);
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all([urls.trainImages, urls.trainLabels, urls.testImages, urls.testLabels].map(fetchBytes));
  const read = options.maxElements === undefined ? {} : { maxElements: options.maxElements };
  const sources = { trainImages: urls.trainImages.href, trainLabels: urls.trainLabels.href, testImages: urls.testImages.href, testLabels: urls.testLabels.href };
  return idxDataset(
    {
      trainImages: decodeIdxImages(trainImages!, sources.trainImages, read),
      trainLabels: decodeIdxLabels(trainLabels!, sources.trainLabels, read),
      testImages: decodeIdxImages(testImages!, sources.testImages, read),
      testLabels: decodeIdxLabels(testLabels!, sources.testLabels, read),
    },
    sources,
    options,
  );
}
