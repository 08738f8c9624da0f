/**
 * Re-sealing checkpoint metadata in tests that change a checkpoint on purpose: the metadata
 * digest of format /3 (src/sll/checkpoint.ts), computed here with node:crypto, independently of
 * the Web Crypto code under test.
 */
import { createHash } from 'node:crypto';

/** metadata.metadataSha256 recomputed over the other entries: the JSON of their [key, value] pairs, sorted by key. */
export function resealMetadata(metadata: Record<string, string>): void {
  const entries = Object.keys(metadata)
    .filter((key) => key !== 'metadataSha256')
    .sort()
    .map((key) => [key, metadata[key]]);
  metadata.metadataSha256 = createHash('sha256').update(JSON.stringify(entries), 'utf8').digest('hex');
}
