import { fstatSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';

/** A commit record: `end` offset (u64), CRC-32 of the batch (u32), CRC-32 of the first 12 bytes (u32). */
export const RECORD = 16;

/** Encodes the commit record of a batch ending at `end` whose bytes have CRC-32 `crc`. */
export function encodeRecord(end: number, crc: number): Buffer {
  const rec = Buffer.allocUnsafe(RECORD);
  rec.writeBigUInt64BE(BigInt(end), 0);
  rec.writeUInt32BE(crc, 8);
  rec.writeUInt32BE(crc32(rec.subarray(0, 12)), 12);
  return rec;
}

/** Offsets `[begin, end)` of a journal and what recovery found there. */
export interface DamagedRange {
  readonly begin: number;
  readonly end: number;
  /** `corrupt`: bytes differ from their checksum; `unverifiable`: no intact record covers them; `missing`: a record claims bytes the file lacks. */
  readonly state: 'corrupt' | 'unverifiable' | 'missing';
  readonly why: string;
}

/** The verdict on one spool's files after a restart. */
export type SpoolCheck =
  | {
      readonly kind: 'intact';
      /** The end of the verified batches: every acknowledged byte. */
      readonly end: number;
      readonly records: number;
      /** Bytes past `end` that no verified record covers: an append in flight at the crash, never acknowledged. */
      readonly unacknowledged: number;
    }
  | {
      readonly kind: 'damaged';
      /** The end of the leading run of verified batches. */
      readonly verifiedEnd: number;
      /** The highest offset any record or the data file claims. */
      readonly claimedEnd: number;
      readonly ranges: readonly DamagedRange[];
    };

/**
 * Checks every commit record of a spool and every batch's bytes against its CRC.
 *
 * The commit protocol leaves at most one batch in doubt after a crash: batch N+1 is written
 * only once batch N is durable. So a spool is `intact` when all its records verify except at
 * most the last one (torn record, or bytes not all on disk), with any bytes past the verified
 * end unacknowledged. Anything else (a bad record before the last, a checksum mismatch in a
 * batch that later bytes follow, a missing index beside data) is damage of acknowledged bytes,
 * reported range by range; nothing is decided about the files here.
 *
 * It reads synchronously: it runs at start, before the broker serves anything, where a thread
 * pool hop per read made restarts with 10,000 journals take tens of seconds.
 */
export function checkSpool(data: number, index: Buffer | undefined, begin: number): SpoolCheck {
  const dataEnd = begin + fstatSync(data).size;
  if (index === undefined) {
    if (dataEnd === begin) return { kind: 'intact', end: begin, records: 0, unacknowledged: 0 };
    const why = 'the commit index is missing';
    return { kind: 'damaged', verifiedEnd: begin, claimedEnd: dataEnd, ranges: [{ begin, end: dataEnd, state: 'unverifiable', why }] };
  }
  const slots = Math.floor(index.length / RECORD);
  const ranges: DamagedRange[] = [];
  let verified = 0; // leading slots that verify
  let prevEnd: number | undefined = begin; // where the next batch begins, while records are intact
  let covered = begin;
  let lastMismatch: { end: number } | undefined;
  for (let i = 0; i < slots; i++) {
    const rec = index.subarray(i * RECORD, (i + 1) * RECORD);
    const end = Number(rec.readBigUInt64BE(0));
    if (crc32(rec.subarray(0, 12)) !== rec.readUInt32BE(12) || end <= covered) {
      prevEnd = undefined;
      continue;
    }
    const from = prevEnd ?? covered;
    if (prevEnd === undefined) {
      if (Math.min(end, dataEnd) > from) {
        ranges.push({ begin: from, end: Math.min(end, dataEnd), state: 'unverifiable', why: `the commit record before offset ${end} is corrupt` });
      }
    } else if (end > dataEnd) {
      if (dataEnd > from) ranges.push({ begin: from, end: dataEnd, state: 'unverifiable', why: 'its batch is cut short' });
    } else if (crcOf(data, from - begin, end - begin) !== rec.readUInt32BE(8)) {
      ranges.push({ begin: from, end, state: 'corrupt', why: 'bytes do not match their commit checksum' });
      lastMismatch = { end };
    } else if (verified === i) {
      verified++;
    }
    if (end > dataEnd) ranges.push({ begin: Math.max(from, dataEnd), end, state: 'missing', why: 'the spool file ends early' });
    prevEnd = end;
    covered = end;
  }
  const verifiedEnd = verified === 0 ? begin : Number(index.readBigUInt64BE((verified - 1) * RECORD));
  const leftover = index.length - verified * RECORD;
  // The one batch in doubt: its record torn, its bytes not all on disk, or (when nothing was
  // written after it) its bytes torn. A mismatch followed by more data was acknowledged.
  const inDoubt = leftover <= RECORD && !(lastMismatch && dataEnd > lastMismatch.end);
  if (inDoubt) return { kind: 'intact', end: verifiedEnd, records: verified, unacknowledged: Math.max(0, dataEnd - verifiedEnd) };
  if (dataEnd > covered) ranges.push({ begin: covered, end: dataEnd, state: 'unverifiable', why: 'no commit record covers them' });
  return { kind: 'damaged', verifiedEnd, claimedEnd: Math.max(covered, dataEnd), ranges: merge(ranges) };
}

/** CRC-32 of the file's bytes `[from, to)`, read in bounded chunks. */
function crcOf(fd: number, from: number, to: number): number {
  const buf = Buffer.allocUnsafe(Math.min(1 << 20, Math.max(1, to - from)));
  let crc = 0;
  for (let at = from; at < to; ) {
    const bytesRead = readSync(fd, buf, 0, Math.min(buf.length, to - at), at);
    if (bytesRead === 0) break;
    crc = crc32(buf.subarray(0, bytesRead), crc);
    at += bytesRead;
  }
  return crc;
}

/** Joins neighbouring ranges of the same state and reason. */
function merge(ranges: DamagedRange[]): DamagedRange[] {
  const out: DamagedRange[] = [];
  for (const r of ranges) {
    const last = out.at(-1);
    if (last && last.end === r.begin && last.state === r.state && last.why === r.why) out[out.length - 1] = { ...last, end: r.end };
    else out.push(r);
  }
  return out;
}

/** `[0x10, 0x20) corrupt (bytes do not match their commit checksum)`: ranges for a log line or an error. */
export function describeRanges(ranges: readonly DamagedRange[]): string {
  return ranges.map((r) => `[${r.begin}, ${r.end}) ${r.state} (${r.why})`).join('; ');
}
