import { createHash, randomBytes } from 'node:crypto';

/**
 * Document UUIDs, as Gazette's message package lays them out: an RFC 4122 v1 UUID whose node
 * is the producer, whose timestamp and 4-bit sequence counter are the producer's clock, and
 * whose 14-bit clock sequence carries the clock's counter and 10 bits of transaction flags.
 *
 * Clocks travel as 16 hex digits (60-bit timestamp in 100ns units since 1582-10-15, then the
 * counter), so comparing clocks is comparing strings.
 */

/** Committed on its own: not part of a transaction. */
export const OUTSIDE_TXN = 0;
/** Part of a transaction that a later ACK of the same producer commits. */
export const CONTINUE_TXN = 1;
/** Commits the producer's documents with clocks up to its own; discards later ones. */
export const ACK_TXN = 2;

export const ZERO_CLOCK = '0000000000000000';

/** 100ns intervals between the Gregorian reform (the UUID epoch) and the Unix epoch. */
const UUID_EPOCH_OFFSET = 122_192_928_000_000_000n;

export interface ParsedUuid {
  /** 12 hex digits. */
  readonly producer: string;
  /** 16 hex digits; compares as a string. */
  readonly clock: string;
  readonly flags: number;
}

/** A random producer id with the multicast bit set, as RFC 4122 asks of ids not taken from a NIC. */
export function randomProducer(): string {
  const b = randomBytes(6);
  b[0]! |= 0x01;
  return b.toString('hex');
}

/** A stable producer id for a client-named producer, so its retries are recognised. */
export function namedProducer(name: string): string {
  const b = createHash('sha1').update(name).digest().subarray(0, 6);
  b[0]! |= 0x01;
  return b.toString('hex');
}

/** A monotonic clock: wall time in UUID units, or one tick past the last value when time stands still. */
export class ClockSource {
  private last = 0n;

  /** Never issues a clock at or below `clock` (e.g. the greatest clock recorded before a restart). */
  observe(clock: string): void {
    const c = BigInt(`0x${clock}`);
    if (c > this.last) this.last = c;
  }

  next(): string {
    const wall = (BigInt(Date.now()) * 10_000n + UUID_EPOCH_OFFSET) << 4n;
    this.last = wall > this.last ? wall : this.last + 1n;
    return this.last.toString(16).padStart(16, '0');
  }

  /** `count` clocks in a row (count ≥ 1): the first is what `next` would return, the others follow it one tick apart. */
  reserve(count: number): { first: bigint; last: string } {
    const first = BigInt(`0x${this.next()}`);
    this.last = first + BigInt(count - 1);
    return { first, last: this.last.toString(16).padStart(16, '0') };
  }
}

/** Hex digits as bytes. */
const HEX_BYTES = Buffer.from('0123456789abcdef', 'latin1');

/**
 * Writes the UUIDs of `producer` at `count` clocks in a row from `first` (see
 * `ClockSource.reserve`), as `buildUuid` makes them, into `body`, the i-th at `at(i)`, as bytes: a publisher
 * puts one into every line it writes, and building each as a string first cost more than the
 * rest of its work on the line.
 */
export function writeUuids(body: Uint8Array, producer: string, first: bigint, count: number, flags: number, at: (i: number) => number): void {
  // The clock's low 36 bits (time low and counter) count up; the 28 above (time mid and high) change on a carry.
  const LOW = 2 ** 36;
  let high = Number(first / BigInt(LOW));
  let low = Number(first % BigInt(LOW));
  // tttttttt-mmmm-1hhh-vsss-pppppppppppp: all but the t and s digits change only on a carry.
  const template = Buffer.from(`00000000-mmmm-1hhh-8000-${producer}`, 'latin1');
  const setHigh = () => template.write(high.toString(16).padStart(7, '0').replace(/^(.{3})(.{4})$/, '$2-1$1'), 9, 'latin1');
  setHigh();
  for (let i = 0; i < count; i++, low++) {
    if (low === LOW) {
      low = 0;
      high++;
      setHigh();
    }
    const p = at(i);
    body.set(template, p);
    let t = Math.floor(low / 16);
    for (let k = 7; k >= 0; k--, t = Math.floor(t / 16)) body[p + k] = HEX_BYTES[t % 16]!;
    const seq = 0x8000 | ((low % 16) << 10) | (flags & 0x3ff);
    body[p + 19] = HEX_BYTES[seq >> 12]!;
    body[p + 20] = HEX_BYTES[(seq >> 8) & 15]!;
    body[p + 21] = HEX_BYTES[(seq >> 4) & 15]!;
    body[p + 22] = HEX_BYTES[seq & 15]!;
  }
}

export function buildUuid(producer: string, clock: string, flags: number): string {
  // clock = 15 hex digits of timestamp (hi 3, mid 4, low 8) + 1 of counter.
  const timeHi = clock.slice(0, 3);
  const timeMid = clock.slice(3, 7);
  const timeLow = clock.slice(7, 15);
  const counter = parseInt(clock[15]!, 16);
  const clockSeq = 0x8000 | (counter << 10) | (flags & 0x3ff);
  return `${timeLow}-${timeMid}-1${timeHi}-${clockSeq.toString(16)}-${producer}`;
}

const HEX = '0123456789abcdef';

/** The value of the hex digit at `i`, or -1 when it is not one (lowercase only). */
function hexAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
}

/**
 * Parses a document UUID; undefined if it is not one of ours (not v1, wrong variant, not
 * lowercase hex). By hand rather than by a regular expression: a reader parses one per line.
 */
export function parseUuid(uuid: string): ParsedUuid | undefined {
  return uuid.length === 36 ? parseUuidAt(uuid, 0) : undefined;
}

/**
 * `parseUuid` of the 36 characters of `s` at `o`, without slicing them out first. `producer`,
 * when given and equal to the UUID's, is returned as its producer (no new string per line of
 * the same producer).
 */
export function parseUuidAt(s: string, o: number, producer?: string): ParsedUuid | undefined {
  // tttttttt-mmmm-1hhh-vsss-pppppppppppp
  if (o < 0 || o + 36 > s.length) return undefined;
  if (s.charCodeAt(o + 8) !== 45 || s.charCodeAt(o + 13) !== 45 || s.charCodeAt(o + 14) !== 49 || s.charCodeAt(o + 18) !== 45 || s.charCodeAt(o + 23) !== 45) {
    return undefined;
  }
  let seq = 0;
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 14 || i === 18 || i === 23) continue;
    const h = hexAt(s, o + i);
    if (h < 0) return undefined;
    if (i >= 19 && i < 23) seq = (seq << 4) | h;
  }
  // The RFC 4122 variant: 10xx.
  if (seq >> 14 !== 2) return undefined;
  const c = (i: number) => s.charCodeAt(o + i);
  return {
    producer: producer !== undefined && producer.length === 12 && s.startsWith(producer, o + 24) ? producer : s.slice(o + 24, o + 36),
    // time hi, mid, low, then the counter: one string built at once (slices and joins cost twice as much).
    clock: String.fromCharCode(c(15), c(16), c(17), c(9), c(10), c(11), c(12), c(0), c(1), c(2), c(3), c(4), c(5), c(6), c(7), HEX.charCodeAt((seq >> 10) & 0xf)),
    flags: seq & 0x3ff,
  };
}

const META_UUID = '"_meta":{"uuid":"';

/**
 * Where the `_meta.uuid` of a document's JSON text begins (its 36 characters) when the text ends
 * with it, as inlet writes documents (`…,"_meta":{"uuid":"<36 characters>"}}`), else -1: read
 * without parsing the document. In valid JSON such an ending can only be the top-level object's
 * `_meta`, and its last occurrence, the one JSON.parse keeps. The characters are as written
 * (escapes included): parse them with `parseUuidAt`, and parse the document when that fails.
 */
export function trailingUuidAt(line: string): number {
  const n = line.length;
  const at = n - 39 - META_UUID.length;
  // `"}}` at the end, and `,` or `{` before the key.
  if (at < 1 || line.charCodeAt(n - 1) !== 125 || line.charCodeAt(n - 2) !== 125 || line.charCodeAt(n - 3) !== 34) return -1;
  const before = line.charCodeAt(at - 1);
  if ((before !== 44 && before !== 123) || !line.startsWith(META_UUID, at)) return -1;
  return n - 39;
}

/** The wall time a clock was taken at. */
export function clockTime(clock: string): Date {
  const units = BigInt(`0x${clock}`) >> 4n;
  return new Date(Number((units - UUID_EPOCH_OFFSET) / 10_000n));
}
