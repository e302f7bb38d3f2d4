import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InletError } from '../errors.js';

/** Exit code for bad flags or config, as CLIs conventionally use. */
export const USAGE_EXIT = 2;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** parseArgs with errors rephrased as one line naming the flag. */
export function parse(
  args: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  allowPositionals = true,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals, strict: true });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, ''));
  }
}

/** Reads an integer flag; throws a UsageError naming it. */
export function intFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new UsageError(`${flag}: must be an integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Prints an error the way every command does and picks the exit code. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return USAGE_EXIT;
  if (err instanceof InletError && ['INVALID_SPEC', 'INVALID_SELECTOR', 'INVALID_CATALOG', 'INVALID_SCHEMA'].includes(err.code)) return USAGE_EXIT;
  return 1;
}
