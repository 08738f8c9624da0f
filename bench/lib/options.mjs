// The benchmark scripts' command line: `--name value` pairs, read with a fallback.
const args = process.argv.slice(2);

/** The value after `--name`, or `fallback` when the flag is absent. */
export function option(name, fallback) {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : fallback;
}

/** What `read` returns; if it throws (a bad flag), its message on stderr and exit code 2, as a usage error. */
export function orUsageError(read) {
  try {
    return read();
  } catch (e) {
    console.error(e.message);
    process.exit(2);
  }
}
