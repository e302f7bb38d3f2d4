import { InletError } from '../errors.js';
import type { Codec } from '../journal/spec.js';

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

/** `<journal>/<postfix>/<begin>-<end>-<sha1>.<ext>`, relative to a store's prefix. Names sort by offset. */
export function fragmentKey(f: FragmentName): string {
  const file = `${hex16(f.begin)}-${hex16(f.end)}-${f.sha1}.${CODEC_EXT[f.codec]}`;
  return f.postfix ? `${f.journal}/${f.postfix}/${file}` : `${f.journal}/${file}`;
}

const FILE = /^([0-9a-f]{16})-([0-9a-f]{16})-([0-9a-f]{40})\.(gz|zst|raw)$/;

/**
 * Parses a key relative to a store prefix. The journal is the part before the postfix, so the
 * caller says which journal it listed (`journal`), as postfix segments look like name segments.
 * Returns null for keys that are not fragments of that journal.
 */
export function parseFragmentKey(key: string, journal: string): FragmentName | null {
  if (!key.startsWith(`${journal}/`)) return null;
  const rest = key.slice(journal.length + 1);
  const slash = rest.lastIndexOf('/');
  const m = rest.slice(slash + 1).match(FILE);
  if (!m) return null;
  const begin = parseInt(m[1]!, 16);
  const end = parseInt(m[2]!, 16);
  if (end < begin) return null;
  return { journal, postfix: slash < 0 ? '' : rest.slice(0, slash), begin, end, sha1: m[3]!, codec: EXT_CODEC[m[4]!]! };
}

/**
 * Renders a path postfix template for a fragment's first append: `%Y %m %d %H %M` are its UTC
 * year, month, day, hour and minute; `%%` is a percent sign.
 */
export function renderPostfix(template: string, at: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return template.replace(/%([YmdHM%])/g, (_, c: string) => {
    switch (c) {
      case 'Y':
        return String(at.getUTCFullYear());
      case 'm':
        return pad(at.getUTCMonth() + 1);
      case 'd':
        return pad(at.getUTCDate());
      case 'H':
        return pad(at.getUTCHours());
      case 'M':
        return pad(at.getUTCMinutes());
      default:
        return '%';
    }
  });
}

/** Checks a template renders to a relative path of non-empty segments. */
export function checkPostfixTemplate(template: string): void {
  const sample = renderPostfix(template, new Date(0));
  if (sample !== '' && (sample.startsWith('/') || sample.endsWith('/') || sample.includes('//') || /%/.test(template.replace(/%[YmdHM%]/g, '')))) {
    throw new InletError('INVALID_SPEC', `fragment.pathPostfixTemplate ${JSON.stringify(template)}: use %Y %m %d %H %M between / separators`);
  }
}
