import { InletError } from './errors.js';

const NAME_CHARS = /^[A-Za-z0-9._=%+\-/]+$/;

/** Longest segment: a segment is a directory of the data dir and the file store, and filesystems stop at 255 bytes. */
export const MAX_SEGMENT_LENGTH = 255;

/**
 * Checks a journal name: 1–512 chars of `[A-Za-z0-9._=%+-]` and `/`, no leading or
 * trailing `/`, no `//`, no `.` or `..` segment, no segment over 255 chars. Throws
 * INVALID_JOURNAL_NAME naming the rule broken.
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
    if (segment.length > MAX_SEGMENT_LENGTH) fail(`has a segment of ${segment.length} characters; segments between / may be at most ${MAX_SEGMENT_LENGTH}`);
  }
  return name;
}
