import { fstatSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { decodeFrameHeader, FILE_HEADER, FRAME_HEADER, FRAME_MAGIC_BYTES, type FrameHeader } from './spool-format.js';

/** Offsets `[begin, end)` of a journal and what recovery found there. */
export interface DamagedRange {
  readonly begin: number;
  readonly end: number;
  /** `corrupt`: bytes differ from their checksum; `unverifiable`: no intact record covers them; `missing`: a record claims bytes the file lacks. */
  readonly state: 'corrupt' | 'unverifiable' | 'missing';
  readonly why: string;
}

/** The verdict on one format-2 spool file after a restart. */
export type FrameCheck =
  | {
      readonly kind: 'intact';
      /** The end of the leading run of verified frames: every acknowledged byte. */
      readonly end: number;
      /** The file position just past those frames, where the file is cut and appends continue. */
      readonly fileEnd: number;
      /** The journal offset each of those frames ends at, in order. */
      readonly ends: number[];
      /** Offsets past `end` that were in flight at the crash (never acknowledged) and are cut. */
      readonly cut: number;
    }
  | { readonly kind: 'damaged'; readonly verifiedEnd: number; readonly claimedEnd: number; readonly ranges: readonly DamagedRange[] };

interface Problem extends DamagedRange {
  /** The file position where the frame in trouble begins. */
  readonly pos: number;
}

/**
 * Walks the frames of a format-2 spool file (spool-format.ts), checking every header and every
 * payload against its CRC, and decides what a crash left in doubt.
 *
 * The highest `durable` any intact frame header claims is the durable watermark: bytes below it
 * were fsync'd before the crash, so a frame there that fails its check is damage of acknowledged
 * bytes (`damaged`, with every range in trouble; nothing is decided about the file here). A first
 * problem at or past the watermark is the tail that was in flight: the spool is `intact` up to
 * it and everything from it on is cut. Past a damaged frame header the walk finds the next intact
 * one by its magic, so that the claims of later frames still count.
 */
export function checkFrames(fd: number, begin: number): FrameCheck {
  const file = new FileWindow(fd);
  const size = file.size;
  const problems: Problem[] = [];
  const ends: number[] = [];
  let pos = FILE_HEADER;
  let prev = begin; // where the next frame's payload begins
  let durable = begin;
  let claimed = begin;
  while (pos < size) {
    const h = decodeFrameHeader(file.get(pos, FRAME_HEADER));
    if (h && h.begin === prev) {
      durable = Math.max(durable, h.durable);
      claimed = Math.max(claimed, h.end);
      const payload = pos + FRAME_HEADER;
      const payloadEnd = payload + (h.end - h.begin);
      if (payloadEnd > size) {
        const have = prev + (size - payload);
        if (have > prev) problems.push({ begin: prev, end: have, pos, state: 'unverifiable', why: 'its batch is cut short' });
        problems.push({ begin: have, end: h.end, pos, state: 'missing', why: 'the spool file ends early' });
        prev = h.end;
        break;
      }
      if (file.crc(payload, payloadEnd) !== h.crc) problems.push({ begin: prev, end: h.end, pos, state: 'corrupt', why: 'bytes do not match their commit checksum' });
      else if (problems.length === 0) ends.push(h.end);
      prev = h.end;
      pos = payloadEnd;
      continue;
    }
    // Zeros to the end: the space written ahead of small batches (see PREALLOCATE in spool.ts), no frame.
    const dataEnd = file.dataEnd(pos);
    if (dataEnd === pos) break;
    const next = findFrame(file, pos + 1, prev);
    const to = next ? next.h.begin : prev + (dataEnd - pos);
    // (An empty range when bytes that are no frame sit between two frames.)
    problems.push({ begin: prev, end: to, pos, state: 'unverifiable', why: next ? 'their commit record is corrupt' : 'no intact commit record covers them' });
    prev = to;
    if (!next) break;
    pos = next.pos;
  }
  claimed = Math.max(claimed, prev);
  const first = problems[0];
  if (!first) return { kind: 'intact', end: prev, fileEnd: pos, ends, cut: 0 };
  if (first.begin >= durable) return { kind: 'intact', end: first.begin, fileEnd: first.pos, ends, cut: claimed - first.begin };
  const ranges = merge(problems.map(({ begin: b, end, state, why }) => ({ begin: b, end, state, why })));
  return { kind: 'damaged', verifiedEnd: first.begin, claimedEnd: Math.max(claimed, durable), ranges };
}

/** The first intact frame header at or after file position `from` whose frame begins at or after `prev`. */
function findFrame(file: FileWindow, from: number, prev: number): { pos: number; h: FrameHeader } | undefined {
  for (let at = from; at + FRAME_HEADER <= file.size; ) {
    const chunk = file.get(at, 1 << 20);
    const i = chunk.indexOf(FRAME_MAGIC_BYTES);
    if (i < 0) {
      // The magic may straddle the chunk's end.
      at += Math.max(1, chunk.length - FRAME_MAGIC_BYTES.length + 1);
      continue;
    }
    const h = decodeFrameHeader(file.get(at + i, FRAME_HEADER));
    if (h && h.begin >= prev) return { pos: at + i, h };
    at += i + 1;
  }
  return undefined;
}

/** Reads a file through one window of bytes, so that walking many small frames costs few reads. */
let window: Buffer | undefined;

class FileWindow {
  readonly size: number;
  // One buffer for every spool: recovery is synchronous, one spool at a time, and a restart
  // with 10,000 journals should not allocate a fresh MiB for each.
  private buf = (window ??= Buffer.allocUnsafe(1 << 20));
  private start = 0;
  private len = 0;

  constructor(private readonly fd: number) {
    this.size = fstatSync(fd).size;
  }

  /** Up to `n` bytes from `pos` (fewer at the end of the file); valid until the next call. */
  get(pos: number, n: number): Buffer {
    if (pos >= this.start && pos + n <= this.start + this.len) return this.buf.subarray(pos - this.start, pos - this.start + n);
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    this.start = pos;
    this.len = 0;
    const want = Math.min(this.buf.length, this.size - pos);
    while (this.len < want) {
      const got = readSync(this.fd, this.buf, this.len, want - this.len, pos + this.len);
      if (got === 0) break;
      this.len += got;
    }
    return this.buf.subarray(0, Math.min(n, this.len));
  }

  /** The file position just past the last byte that is not zero, at or after `from` (`from` when none is). */
  dataEnd(from: number): number {
    let end = from;
    for (let at = from; at < this.size; ) {
      const chunk = this.get(at, 1 << 20);
      if (chunk.length === 0) break;
      for (let i = chunk.length - 1; i >= 0; i--) {
        if (chunk[i] !== 0) {
          end = at + i + 1;
          break;
        }
      }
      at += chunk.length;
    }
    return end;
  }

  /** CRC-32 of the bytes `[from, to)`. */
  crc(from: number, to: number): number {
    let crc = 0;
    for (let at = from; at < to; ) {
      const chunk = this.get(at, Math.min(to - at, 1 << 20));
      if (chunk.length === 0) break;
      crc = crc32(chunk, crc);
      at += chunk.length;
    }
    return crc;
  }
}

/** Joins neighbouring ranges of the same state and reason. */
export function merge(ranges: DamagedRange[]): DamagedRange[] {
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
