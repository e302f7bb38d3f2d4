import { parseArgs } from 'node:util';
import { UsageError } from './args.js';

/** One flag of a command; its help line is generated from this. */
export interface Flag {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** The placeholder shown in help for a string flag's value, e.g. `SIZE`. */
  readonly value?: string;
  readonly description: string;
  /** Shown in help; the command applies it (a missing flag is undefined in `values`). */
  readonly default?: string;
}

export type Flags = Readonly<Record<string, Flag>>;

/** What a command's `run` receives: flags by long name, then positionals. */
export interface Parsed {
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  readonly positionals: readonly string[];
}

/**
 * One definition per command: help, flag parsing and dispatch all come from it. A command
 * either runs (`run`, which should import its implementation lazily so `inlet --help` stays
 * fast) or holds subcommands.
 */
export interface Command {
  readonly name: string;
  /** One line, shown in the parent's list of commands. */
  readonly summary: string;
  /** What follows the command's name in its usage line, e.g. `JOURNAL [flags] < data`. */
  readonly usage?: string;
  /** Paragraphs shown in the command's own help. */
  readonly description?: string;
  /** Flags, or a function producing them (for flags generated from a schema that is costly to load). */
  readonly flags?: Flags | (() => Promise<Flags>);
  /** How many positionals the command takes; default none. */
  readonly positionals?: { readonly min: number; readonly max: number };
  readonly run?: (args: Parsed) => Promise<void>;
  readonly subcommands?: readonly Command[];
}

const HELP_FLAG: Flag = { type: 'boolean', short: 'h', description: 'show this help' };

/**
 * Runs the command `argv` names below `root`: `--help`/`-h` anywhere before `--` prints help;
 * an unknown command or flag throws a UsageError suggesting the closest known one.
 */
export async function dispatch(root: Command, argv: readonly string[], path: readonly string[] = [root.name]): Promise<void> {
  if (root.subcommands) {
    const [name, ...rest] = argv;
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') return void process.stdout.write(groupHelp(root, path));
    const sub = root.subcommands.find((c) => c.name === name);
    if (!sub) throw new UsageError(`unknown command ${JSON.stringify([...path.slice(1), name].join(' '))}${suggest(name, root.subcommands.map((c) => c.name))} (try ${path.join(' ')} --help)`);
    return dispatch(sub, rest, [...path, sub.name]);
  }
  const flags = await flagsOf(root);
  const end = argv.indexOf('--');
  if ((end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h')) return void process.stdout.write(commandHelp(root, path, flags));
  const parsed = parse(argv, flags, path);
  const { min, max } = root.positionals ?? { min: 0, max: 0 };
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    throw new UsageError(`usage: ${path.join(' ')} ${root.usage ?? ''}`.trimEnd());
  }
  await root.run!(parsed);
}

function parse(argv: readonly string[], flags: Flags, path: readonly string[]): Parsed {
  const options = Object.fromEntries(Object.entries(flags).map(([k, f]) => [k, { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) }]));
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    const message = (err as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '');
    const unknown = message.match(/^Unknown option '--([^']+)'/)?.[1];
    const hint = unknown ? suggest(unknown, Object.keys(flags)).replace(/"(.*)"/, '"--$1"') : '';
    throw new UsageError(`${message}${hint} (try ${path.join(' ')} --help)`);
  }
}

async function flagsOf(c: Command): Promise<Flags> {
  const own = typeof c.flags === 'function' ? await c.flags() : (c.flags ?? {});
  return { ...own, help: HELP_FLAG };
}

function groupHelp(c: Command, path: readonly string[]): string {
  const rows = c.subcommands!.map((s) => [`${[...path.slice(1), s.name].join(' ')}${s.subcommands ? ' …' : ''}`, s.summary] as const);
  return (
    `Usage: ${path.join(' ')} <command> [flags]\n\n` +
    (c.description ? `${c.description.trim()}\n\n` : '') +
    `Commands:\n${table(rows)}\n` +
    `Every command answers --help.\n`
  );
}

function commandHelp(c: Command, path: readonly string[], flags: Flags): string {
  const rows = Object.entries(flags).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`;
    const more = [f.multiple ? 'repeatable' : '', f.default !== undefined ? `default ${f.default}` : ''].filter(Boolean).join('; ');
    return [left, `${f.description}${more ? ` (${more})` : ''}`] as const;
  });
  return `Usage: ${path.join(' ')} ${c.usage ?? '[flags]'}\n\n${c.summary}\n${c.description ? `\n${c.description.trim()}\n` : ''}\nFlags:\n${table(rows)}`;
}

function table(rows: readonly (readonly [string, string])[]): string {
  const width = Math.min(36, Math.max(...rows.map(([l]) => l.length)));
  return rows.map(([l, r]) => `  ${l.length > width ? `${l}\n  ${''.padEnd(width)}` : l.padEnd(width)}  ${r}\n`).join('');
}

/** ` (did you mean "x"?)` for the closest of `known` within a few edits of `word`, else ''. */
export function suggest(word: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const k of known) {
    const d = distance(word, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best === undefined ? '' : ` (did you mean "${best}"?)`;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}
