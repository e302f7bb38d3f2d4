import { InletError } from './errors.js';

const NAME_CHARS = /^[A-Za-z0-9._=%+\-/]+$/;

/**
 * Checks a journal name: 1–512 chars of `[A-Za-z0-9._=%+-]` and `/`, no leading or
 * trailing `/`, no `//`, no `.` or `..` segment. Throws INVALID_JOURNAL_NAME naming the rule broken.
 */
export function validateJournalName(name: string): string {
  const fail = (why: string): never => {
    throw new InletError('INVALID_JOURNAL_NAME', `journal name ${JSON.stringify(name.slice(0, 80))} ${why}`);
  };
  if (name.length < 1 || name.length > 512) fail('must be 1 to 512 characters long');
  if (!NAME_CHARS.test(name)) fail('may contain only A-Z a-z 0-9 . _ = % + - and /');
  if (name.startsWith('/') || name.endsWith('/')) fail('must not begin or end with /');
  for (const segment of name.split('/')) {
    if (segment === '') fail('must not contain //');
    if (segment === '.' || segment === '..') fail('must not contain a . or .. segment');
  }
  return name;
}
