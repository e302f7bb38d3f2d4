import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

/**
 * The on-disk format of a spool file (format 2; see spool.ts for the commit protocol).
 *
 *   file   = [file header] frame*            (an empty file is an empty spool)
 *   header = "INLETSP2" | begin u64 | first append ms u64 | 0 u32 | CRC-32 of the 28 bytes before u32
 *   frame  = [frame header] payload          (one committed batch: the journal's bytes, exactly)
 *   frame header = "INLF" | length u32 | end u64 | durable u64 | CRC-32 of payload u32 | CRC-32 of the 28 bytes before u32
 *
 * All integers are big-endian. A frame's payload is the journal's bytes `[end - length, end)`;
 * frames follow one another without gaps, the first beginning at the spool's `begin`.
 * `durable` is the journal offset up to which earlier frames were known to be fsync'd when this
 * frame was written: recovery trusts it to tell damage of acknowledged bytes from a tail that
 * was still in flight at a crash.
 */
export const FILE_HEADER = 32;
export const FRAME_HEADER = 32;
const FILE_MAGIC = Buffer.from('INLETSP2', 'latin1');
const FRAME_MAGIC = 0x494e4c46; // "INLF"
/** The first bytes of every frame header, for finding the next frame past a damaged one. */
export const FRAME_MAGIC_BYTES = Buffer.from('INLF', 'latin1');

export function encodeFileHeader(begin: number, firstAppendAt: number): Buffer {
  const b = Buffer.alloc(FILE_HEADER);
  FILE_MAGIC.copy(b, 0);
  b.writeBigUInt64BE(BigInt(begin), 8);
  b.writeBigUInt64BE(BigInt(Math.max(0, Math.round(firstAppendAt))), 16);
  b.writeUInt32BE(crc32(b.subarray(0, 28)), 28);
  return b;
}

/** The file header's first append time, or undefined unless `b` is an intact header of a spool at `begin`. */
export function decodeFileHeader(b: Buffer, begin: number): { firstAppendAt: number } | undefined {
  if (b.length < FILE_HEADER || !b.subarray(0, 8).equals(FILE_MAGIC)) return undefined;
  if (crc32(b.subarray(0, 28)) !== b.readUInt32BE(28) || Number(b.readBigUInt64BE(8)) !== begin) return undefined;
  return { firstAppendAt: Number(b.readBigUInt64BE(16)) };
}

/**
 * True when the first bytes of a file could be a file header torn while it was first written
 * (with the spool's first frame): each of the magic's and begin's bytes is still zero or what
 * the header of a spool at `begin` has there, and the rest of the header is still zero.
 */
export function isTornFileHeader(b: Buffer, begin: number): boolean {
  const expect = encodeFileHeader(begin, 0);
  return b.subarray(0, FILE_HEADER).every((x, i) => x === 0 || (i < 16 && x === expect[i]));
}

export interface FrameHeader {
  readonly begin: number;
  readonly end: number;
  readonly durable: number;
  readonly crc: number;
}

export function encodeFrameHeader(begin: number, end: number, durable: number, crc: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER);
  b.writeUInt32BE(FRAME_MAGIC, 0);
  b.writeUInt32BE(end - begin, 4);
  b.writeBigUInt64BE(BigInt(end), 8);
  b.writeBigUInt64BE(BigInt(durable), 16);
  b.writeUInt32BE(crc, 24);
  b.writeUInt32BE(crc32(b.subarray(0, 28)), 28);
  return b;
}

/** The frame header at `at` of `b`, or undefined unless it is intact and consistent. */
export function decodeFrameHeader(b: Buffer, at = 0): FrameHeader | undefined {
  if (b.length - at < FRAME_HEADER || b.readUInt32BE(at) !== FRAME_MAGIC) return undefined;
  if (crc32(b.subarray(at, at + 28)) !== b.readUInt32BE(at + 28)) return undefined;
  const length = b.readUInt32BE(at + 4);
  const end = Number(b.readBigUInt64BE(at + 8));
  const durable = Number(b.readBigUInt64BE(at + 16));
  if (length === 0 || end < length || durable > end - length) return undefined;
  return { begin: end - length, end, durable, crc: b.readUInt32BE(at + 24) };
}

/**
 * The journal bytes of a format-2 spool file, frame headers left out: its first `length` bytes.
 * For the compression worker, which reads sealed spools while the broker runs. The chunks are
 * views of the buffers read, not copies (a read buffer is never reused once a view of it is out).
 */
export async function* spoolPayload(path: string, length: number): AsyncGenerator<Buffer> {
  if (length === 0) return;
  const fh = await open(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(1 << 20);
    let at = FILE_HEADER; // file position of buf[0]
    let filled = 0; // bytes of buf read from the file
    let payloadLeft = 0; // bytes of the current frame's payload not yet passed on
    let sent = 0;
    let eof = false;
    while (sent < length) {
      if (!eof && filled < buf.length) {
        const { bytesRead } = await fh.read(buf, filled, buf.length - filled, at + filled);
        if (bytesRead === 0) eof = true;
        filled += bytesRead;
      }
      // The payloads in this window, headers left out.
      const pieces: Buffer[] = [];
      let used = 0;
      while (used < filled && sent < length) {
        if (payloadLeft > 0) {
          const k = Math.min(payloadLeft, filled - used, length - sent);
          pieces.push(buf.subarray(used, used + k));
          used += k;
          sent += k;
          payloadLeft -= k;
          continue;
        }
        if (filled - used < FRAME_HEADER) break;
        const h = decodeFrameHeader(buf, used);
        if (!h) throw new Error(`${path}: no intact frame header at file position ${at + used}`);
        payloadLeft = h.end - h.begin;
        used += FRAME_HEADER;
      }
      for (const p of pieces) yield p;
      if (used === 0 && eof && sent < length) throw new Error(`${path}: ends after ${sent} of ${length} bytes`);
      // What is left (part of a header) moves to the front; to a new buffer once views of this one are out.
      const next = pieces.length > 0 ? Buffer.allocUnsafe(buf.length) : buf;
      buf.copy(next, 0, used, filled);
      buf = next;
      filled -= used;
      at += used;
    }
  } finally {
    await fh.close();
  }
}
