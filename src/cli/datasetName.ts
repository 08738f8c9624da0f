/**
 * A dataset name given on the command line, checked against the registry before anything is
 * read: every subcommand refuses an unknown one with the same message and the nearest name.
 */
import { DATASETS } from '../data/registry.js';
import { nearest } from '../settings/schema.js';
import { UsageError } from './args.js';

/** Throws a UsageError for `command` unless `name` is in the registry; `given` says where it came from ('--dataset', ...). */
export function requireKnownDataset(name: string, given: string, command: string): void {
  if (Object.hasOwn(DATASETS, name)) return;
  const known = Object.keys(DATASETS);
  const near = nearest(name, known);
  throw new UsageError(`${given ? `${given} ` : ''}${JSON.stringify(name)} is not a known dataset${near ? ` (did you mean ${near}?)` : ''}; known: ${known.join(', ')}`, command);
}
