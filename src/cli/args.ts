/**
 * Command-line options as data: each subcommand declares its options once, and both the parser
 * and `--help` are made from that declaration, so the help can never drift from what is parsed.
 * Errors name the option and what was wrong, and suggest the nearest known option.
 */
import { nearest } from '../settings/schema.js';

export type OptionType = 'string' | 'number' | 'integer' | 'boolean' | 'integers';

export interface OptionSpec {
  name: string;
  type: OptionType;
  help: string;
  /** Shown in the help; the parser leaves absent options undefined (defaults are applied later). */
  defaultText?: string;
  choices?: readonly string[];
  /** Placeholder in the help, e.g. DIR. */
  value?: string;
  /** Help section, e.g. 'model', 'SLL'. */
  group?: string;
  /** Names other tools give this option (--learning-rate for --lr): suggested, not accepted. */
  alsoKnownAs?: readonly string[];
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: readonly OptionSpec[];
  /** Free text after the options (examples, notes). */
  epilog?: string;
}

export type OptionValue = string | number | boolean | number[];

export interface ParsedArgs {
  values: Record<string, OptionValue | undefined>;
  positionals: string[];
  help: boolean;
}

export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    message: string,
    /** The command whose help the user should read. */
    readonly command: string,
  ) {
    super(message);
  }
}

export function parseArgs(argv: readonly string[], spec: CommandSpec): ParsedArgs {
  const byName = new Map(spec.options.map((o) => [o.name, o]));
  const values: Record<string, OptionValue | undefined> = {};
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) throw new UsageError(`unknown option '${arg}' (options are spelled --name)`, spec.name);
      positionals.push(arg);
      continue;
    }
    let name = arg.slice(2);
    let inline: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      inline = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    let option = byName.get(name);
    let negated = false;
    if (!option && name.startsWith('no-') && byName.get(name.slice(3))?.type === 'boolean') {
      option = byName.get(name.slice(3));
      negated = true;
    }
    if (!option) throw new UsageError(`unknown option --${name}${suggest(name, spec.options)}`, spec.name);
    if (option.type === 'boolean') {
      if (inline !== undefined) {
        if (inline !== 'true' && inline !== 'false') throw new UsageError(`--${option.name} takes true or false, got '${inline}'`, spec.name);
        values[option.name] = (inline === 'true') !== negated;
      } else values[option.name] = !negated;
      continue;
    }
    const text = inline ?? argv[++i];
    if (text === undefined || (inline === undefined && text.startsWith('--'))) throw new UsageError(`--${option.name} needs a value${option.value ? ` (${option.value})` : ''}`, spec.name);
    values[option.name] = convert(option, text, spec.name);
  }
  return { values, positionals, help };
}

function convert(option: OptionSpec, text: string, command: string): OptionValue {
  const fail = (what: string): never => {
    throw new UsageError(`--${option.name} ${what}, got '${text}'`, command);
  };
  switch (option.type) {
    case 'string':
      // An empty path or name is never meant: `--out ""` would otherwise write into the working directory.
      if (text.trim() === '') fail('must not be empty');
      if (option.choices && !option.choices.includes(text)) fail(`must be one of ${option.choices.join(', ')}`);
      return text;
    case 'number': {
      const v = Number(text);
      if (text.trim() === '' || !Number.isFinite(v)) fail('must be a number');
      return v;
    }
    case 'integer': {
      const v = Number(text);
      if (text.trim() === '' || !Number.isSafeInteger(v)) fail('must be an integer');
      return v;
    }
    case 'integers': {
      const parts = text.split(',').map((p) => Number(p.trim()));
      if (text.trim() === '' || parts.some((v) => !Number.isSafeInteger(v) || v < 1)) fail('must be a comma-separated list of positive integers');
      return parts;
    }
    default:
      return text;
  }
}

/** ' (did you mean --x?)' for a near miss or a name other tools use, else ''. */
function suggest(name: string, options: readonly OptionSpec[]): string {
  const alias = options.find((o) => o.alsoKnownAs?.includes(name));
  const best = alias?.name ?? nearest(name, options.map((o) => o.name));
  return best !== undefined ? ` (did you mean --${best}?)` : '';
}

/** The help text of a command, grouped, with each option's type, choices and default. */
export function formatHelp(spec: CommandSpec): string {
  const lines = [`${spec.summary}`, '', `Usage: ${spec.usage}`];
  const groups = new Map<string, OptionSpec[]>();
  for (const o of spec.options) {
    const g = o.group ?? 'options';
    groups.set(g, [...(groups.get(g) ?? []), o]);
  }
  const label = (o: OptionSpec) => {
    if (o.type === 'boolean') return `--${o.name}, --no-${o.name}`;
    const placeholder = o.value ?? (o.choices ? o.choices.join('|') : o.type === 'integers' ? 'N,N,...' : o.type === 'string' ? 'TEXT' : 'N');
    return `--${o.name} ${placeholder}`;
  };
  const width = Math.min(34, Math.max(...spec.options.map((o) => label(o).length), 10) + 2);
  for (const [group, options] of groups) {
    lines.push('', `${group[0]!.toUpperCase()}${group.slice(1)}:`);
    for (const o of options) {
      const l = label(o);
      const text = `${o.help}${o.defaultText !== undefined ? ` (default: ${o.defaultText})` : ''}`;
      lines.push(l.length + 2 > width ? `  ${l}\n${' '.repeat(width + 2)}${text}` : `  ${l.padEnd(width)}${text}`);
    }
  }
  lines.push('', `  --help, -h${' '.repeat(Math.max(width - 10, 1))}this text`);
  if (spec.epilog) lines.push('', spec.epilog);
  return lines.join('\n');
}
