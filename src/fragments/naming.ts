import { InletError } from '../errors.js';
import type { Codec } from '../journal/spec.js';
import { checkPostfix } from '../protocol/postfix.js';

/** A fragment as named in a store: journal bytes `[begin, end)` with the SHA-1 of their uncompressed content. */
export interface FragmentName {
  readonly journal: string;
  /** The path postfix between journal and file name, e.g. `utc_date=2026-11-21/utc_hour=16` (may be empty). */
  readonly postfix: string;
  readonly begin: number;
  readonly end: number;
  readonly sha1: string;
  readonly codec: Codec;
}

export const CODEC_EXT: Record<Codec, string> = { gzip: 'gz', zstd: 'zst', none: 'raw' };
const EXT_CODEC: Record<string, Codec> = { gz: 'gzip', zst: 'zstd', raw: 'none' };

const hex16 = (n: number) => n.toString(16).padStart(16, '0');

/**
 * `<journal>/<postfix>/<begin>-<end>-<sha1>.<ext>`, relative to a store's prefix. Names sort by
 * offset. Throws INVALID_SPEC for a postfix with an empty, `.` or `..` segment.
 */
export function fragmentKey(f: FragmentName): string {
  checkPostfix(f.postfix, `fragment postfix of ${f.journal}`);
  const file = `${hex16(f.begin)}-${hex16(f.end)}-${f.sha1}.${CODEC_EXT[f.codec]}`;
  return f.postfix ? `${f.journal}/${f.postfix}/${file}` : `${f.journal}/${file}`;
}

const FILE = /^([0-9a-f]{16})-([0-9a-f]{16})-([0-9a-f]{40})\.(gz|zst|raw)$/;

/**
 * Parses a key relative to a store prefix as a fragment of `journal`. What follows `<journal>/`
 * must be exactly a postfix one of `postfixes` matches (the empty postfix always does) and a
 * fragment file name, so keys of journals named below `journal` (`j/x/…` under `j`) never
 * parse as its own. Returns null for keys that are not fragments of that journal.
 */
export function parseFragmentKey(key: string, journal: string, postfixes: readonly RegExp[]): FragmentName | null {
  if (!key.startsWith(`${journal}/`)) return null;
  const rest = key.slice(journal.length + 1);
  const slash = rest.lastIndexOf('/');
  const m = rest.slice(slash + 1).match(FILE);
  if (!m) return null;
  if (slash >= 0 && !postfixes.some((p) => p.test(rest.slice(0, slash)))) return null;
  const begin = parseInt(m[1]!, 16);
  const end = parseInt(m[2]!, 16);
  if (end < begin) return null;
  return { journal, postfix: slash < 0 ? '' : rest.slice(0, slash), begin, end, sha1: m[3]!, codec: EXT_CODEC[m[4]!]! };
}
