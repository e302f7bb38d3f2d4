import { closeSync, fdatasyncSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { merge, type DamagedRange } from './spool-check.js';
import { encodeFileHeader, encodeFrameHeader, FILE_HEADER, FRAME_HEADER } from './spool-format.js';

/**
 * Format 1 of spools, written by inlet before format 2 (spool-format.ts): the data file held the
 * journal's bytes alone, and a side index (`<spool>.index`) one commit record per batch; each
 * batch was fsync'd (both files) before the next was written. Spools in this format are checked
 * and rewritten as format 2 when a broker first opens them.
 */

/** A commit record of the side index of format 1: `end` offset (u64), CRC-32 of the batch (u32), CRC-32 of the first 12 bytes (u32). */
const RECORD = 16;

/** The verdict on one format-1 spool's files (data file and side index) after a restart. */
export type LegacySpoolCheck =
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
 * Checks every commit record of a format-1 spool (data file plus side index, written by inlet
 * before format 2) and every batch's bytes against its CRC, so the spool can be converted.
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
export function checkLegacySpool(data: number, index: Buffer | undefined, begin: number): LegacySpoolCheck {
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

/** What converting a format-1 spool came to: done (with the tail it cut), or the damage that stopped it. */
export type LegacyConversion = { readonly kind: 'converted'; readonly cut: number; readonly firstAppendAt: number | undefined } | Extract<LegacySpoolCheck, { kind: 'damaged' }>;

/** Where a format-1 spool is rewritten as format 2 before it replaces the original. */
const CONVERT_SUFFIX = '.convert.tmp';
/** The largest frame a conversion writes: a frame's length is a u32. */
const CONVERT_FRAME = 64 << 20;

/**
 * Rewrites a format-1 spool (data file plus side index) as format 2: its verified batches
 * become one frame. The new file is written beside it, fsync'd, and renamed over the data file;
 * the index goes last. A crash before the rename leaves format 1 as it was (converted again at
 * the next start); after it, recovery finds a format-2 file and removes the stale index.
 * A damaged format-1 spool is left as it is, and its check returned.
 */
export function convertLegacySpool(path: string, begin: number): LegacyConversion {
  const indexPath = `${path}.index`;
  const tmp = `${path}${CONVERT_SUFFIX}`;
  let data: number | undefined = openSync(path, 'r');
  let out: number | undefined;
  // Each descriptor is closed once: a number closed twice may already name another file.
  const closeAll = () => {
    if (data !== undefined) closeSync(data);
    if (out !== undefined) closeSync(out);
    data = out = undefined;
  };
  try {
    const index = openSync(indexPath, 'r');
    let raw: Buffer;
    let born: number;
    try {
      raw = readFileSync(index);
      const st = fstatSync(index);
      // The index was created by the spool's first append: its birth is that append's time.
      born = st.birthtimeMs || st.mtimeMs;
    } finally {
      closeSync(index);
    }
    const check = checkLegacySpool(data, raw, begin);
    if (check.kind === 'damaged') {
      closeAll();
      return check;
    }
    const length = check.end - begin;
    out = openSync(tmp, 'w');
    if (length > 0) {
      writeSync(out, encodeFileHeader(begin, born), 0, FILE_HEADER, 0);
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, length));
      // Frames of at most CONVERT_FRAME bytes: a frame's length is a u32.
      let pos = FILE_HEADER;
      for (let from = 0; from < length; ) {
        const to = Math.min(length, from + CONVERT_FRAME);
        let crc = 0;
        for (let at = from; at < to; ) {
          const n = readSync(data, buf, 0, Math.min(buf.length, to - at), at);
          if (n === 0) throw new Error(`${path} ends at ${at} of ${length} verified bytes`);
          crc = crc32(buf.subarray(0, n), crc);
          writeSync(out, buf, 0, n, pos + FRAME_HEADER + (at - from));
          at += n;
        }
        // Every byte was fsync'd before (and the whole file is, before it replaces the original).
        writeSync(out, encodeFrameHeader(begin + from, begin + to, begin + from, crc), 0, FRAME_HEADER, pos);
        pos += FRAME_HEADER + (to - from);
        from = to;
      }
    }
    fdatasyncSync(out);
    closeAll();
    renameSync(tmp, path);
    unlinkSync(indexPath);
    const d = openSync(dirname(path), 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
    return { kind: 'converted', cut: check.unacknowledged, firstAppendAt: length > 0 ? born : undefined };
  } catch (err) {
    closeAll();
    throw err;
  }
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

