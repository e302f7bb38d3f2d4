import { InletError } from './errors.js';

/**
 * Offsets on the wire. Journals are addressed by byte offset; the Durable Streams protocol
 * wants opaque, lexicographically sortable strings, so a byte offset `n` is sent as
 * `0000000000000000_<n as 16 decimal digits>` (the first field is reserved and always 0).
 * Plain decimal byte offsets are accepted too, for humans and the `/v1/journals` API.
 */
export function formatOffset(n: number): string {
  return `0000000000000000_${String(n).padStart(16, '0')}`;
}

/** A parsed read position: a byte offset, the beginning, or the current write head. */
export type ReadFrom = number | 'now';

/** Parses `-1`, `now`, `<epoch>_<offset>` or a decimal offset; throws INVALID_OFFSET. */
export function parseOffset(raw: string): ReadFrom {
  if (raw === '-1') return 0;
  if (raw === 'now') return 'now';
  const m = raw.match(/^(\d{1,16})_(\d{1,16})$/) ?? raw.match(/^()(\d{1,16})$/);
  if (!m || (m[1] !== '' && Number(m[1]) !== 0)) {
    throw new InletError('INVALID_OFFSET', `invalid offset ${JSON.stringify(raw.slice(0, 64))}: expected -1, now, or an offset this broker returned`);
  }
  const n = Number(m[2]);
  if (!Number.isSafeInteger(n)) throw new InletError('INVALID_OFFSET', `offset ${raw} is out of range`);
  return n;
}

/**
 * A byte offset where a position, not a read, is meant (e.g. prune below it): a decimal offset
 * or `<epoch>_<offset>` as the broker sends them; throws BAD_REQUEST naming `what`.
 */
export function parseByteOffset(raw: string, what: string): number {
  let n: ReadFrom | undefined;
  try {
    n = raw === '-1' ? undefined : parseOffset(raw);
  } catch {
    n = undefined;
  }
  if (typeof n !== 'number') throw new InletError('BAD_REQUEST', `${what}: must be an offset (a whole number of bytes), got ${JSON.stringify(raw.slice(0, 64))}`);
  return n;
}
