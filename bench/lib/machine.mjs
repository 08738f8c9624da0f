// The machine a record was made on, in words: what pairs records of different hosts (Node and a
// browser) that ran on the same computer.
import { cpus } from 'node:os';

/** The CPU model and core count: 'Intel(R) Xeon(R) Processor x 2'. */
export function machineName() {
  const list = cpus();
  return `${list[0]?.model.trim() ?? 'unknown CPU'} x ${list.length}`;
}
