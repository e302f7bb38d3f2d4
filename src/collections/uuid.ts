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

const UUID_RE = /^([0-9a-f]{8})-([0-9a-f]{4})-1([0-9a-f]{3})-([89ab][0-9a-f]{3})-([0-9a-f]{12})$/;

/** Parses a document UUID; undefined if it is not one of ours (not v1, wrong variant, not lowercase hex). */
export function parseUuid(uuid: string): ParsedUuid | undefined {
  const m = UUID_RE.exec(uuid);
  if (!m) return undefined;
  const seq = parseInt(m[4]!, 16);
  return {
    producer: m[5]!,
    clock: m[3]! + m[2]! + m[1]! + ((seq >> 10) & 0xf).toString(16),
    flags: seq & 0x3ff,
  };
}

/** The wall time a clock was taken at. */
export function clockTime(clock: string): Date {
  const units = BigInt(`0x${clock}`) >> 4n;
  return new Date(Number((units - UUID_EPOCH_OFFSET) / 10_000n));
}
