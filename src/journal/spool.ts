import { open, unlink, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { storageError } from '../errors.js';
import { fsyncDir } from './fsutil.js';

const RECORD = 16;

/** `@0000000000001f00.spool`: a spool's file name is its begin offset. */
export function spoolFileName(begin: number): string {
  return `@${begin.toString(16).padStart(16, '0')}.spool`;
}

export function parseSpoolFileName(file: string): number | null {
  const m = file.match(/^@([0-9a-f]{16})\.spool$/);
  return m ? parseInt(m[1]!, 16) : null;
}

/**
 * A local file holding a journal's bytes `[begin, end)`, exactly as appended, plus a
 * side index of commit records (`end` offset, CRC-32 of the batch, CRC-32 of the record).
 *
 * A batch is durable once both files are fdatasync'd. Because batch N+1 is written only
 * after batch N is durable, recovery has only the last record in doubt: it is kept if
 * its CRC matches the data, and everything past the last good record is truncated.
 */
export class Spool {
  /** Set once the spool takes no more appends; it then waits to be persisted as a fragment. */
  sealed = false;
  /** Set once its fragment is confirmed in a store. */
  persisted = false;

  private constructor(
    readonly dir: string,
    readonly begin: number,
    private end_: number,
    private readonly data: FileHandle,
    private readonly index: FileHandle,
    private indexLength: number,
    /** When the first append landed (ms since epoch), for path postfixes and flush intervals. */
    public firstAppendAt: number | undefined,
  ) {}

  /** The end of durable, committed bytes. */
  get end(): number {
    return this.end_;
  }

  get length(): number {
    return this.end_ - this.begin;
  }

  get path(): string {
    return join(this.dir, spoolFileName(this.begin));
  }

  /** Creates an empty spool at `begin`; fails if one exists. */
  static async create(dir: string, begin: number): Promise<Spool> {
    const path = join(dir, spoolFileName(begin));
    let data: FileHandle | undefined;
    let index: FileHandle | undefined;
    try {
      data = await open(path, 'wx+');
      index = await open(`${path}.index`, 'wx+');
      await fsyncDir(dir);
      return new Spool(dir, begin, begin, data, index, 0, undefined);
    } catch (err) {
      // Leave nothing behind, or every later attempt would fail on the existing name.
      await Promise.allSettled([data?.close(), index?.close()]);
      if (data) await Promise.allSettled([unlink(path), unlink(`${path}.index`)]);
      throw storageError(err, `creating spool ${path}`);
    }
  }

  /** Opens a spool after a restart or crash, truncating any unacknowledged or torn tail. */
  static async recover(dir: string, begin: number): Promise<Spool> {
    const path = join(dir, spoolFileName(begin));
    const data = await open(path, 'r+');
    const index = await open(`${path}.index`, constants.O_RDWR | constants.O_CREAT);
    const dataSize = (await data.stat()).size;
    const raw = await index.readFile();
    const ends: number[] = [];
    for (let at = 0; at + RECORD <= raw.length; at += RECORD) {
      const rec = raw.subarray(at, at + RECORD);
      if (crc32(rec.subarray(0, 12)) !== rec.readUInt32BE(12)) break;
      const end = Number(rec.readBigUInt64BE(0));
      if (end <= (ends.at(-1) ?? begin)) break;
      ends.push(end);
    }
    // Only the last record can be ahead of its data; step back until one verifies.
    while (ends.length > 0) {
      const end = ends.at(-1)!;
      const prev = ends.at(-2) ?? begin;
      if (end - begin <= dataSize) {
        const batch = Buffer.allocUnsafe(end - prev);
        await data.read(batch, 0, batch.length, prev - begin);
        const want = raw.readUInt32BE((ends.length - 1) * RECORD + 8);
        if (crc32(batch) === want) break;
      }
      ends.pop();
    }
    const end = ends.at(-1) ?? begin;
    if (dataSize !== end - begin) await data.truncate(end - begin);
    if (raw.length !== ends.length * RECORD) await index.truncate(ends.length * RECORD);
    if (dataSize !== end - begin || raw.length !== ends.length * RECORD) {
      await Promise.all([data.datasync(), index.datasync()]);
    }
    // The spool file is created by its first append, so its birth time is that append's time.
    const st = await index.stat();
    const firstAppendAt = end > begin ? st.birthtimeMs || st.mtimeMs : undefined;
    return new Spool(dir, begin, end, data, index, ends.length * RECORD, firstAppendAt);
  }

  /**
   * Writes one batch at the spool's end and makes it durable. On success `end` advances by
   * `length`; on failure it does not, the partial bytes are cut off where possible (and are
   * unreachable otherwise: no index record covers them), and a storage error is thrown.
   */
  async commit(buffers: Buffer[], length: number): Promise<void> {
    let crc = 0;
    for (const b of buffers) crc = crc32(b, crc);
    const end = this.end_ + length;
    const rec = Buffer.allocUnsafe(RECORD);
    rec.writeBigUInt64BE(BigInt(end), 0);
    rec.writeUInt32BE(crc, 8);
    rec.writeUInt32BE(crc32(rec.subarray(0, 12)), 12);
    try {
      // Data and record are written and synced side by side: the batch counts only once both
      // are synced, and recovery checks the last record against the data, so their order on
      // disk does not matter. Both must settle before a failure truncates them.
      const done = await Promise.allSettled([
        writevAll(this.data, buffers, this.end_ - this.begin).then(() => this.data.datasync()),
        this.index.write(rec, 0, RECORD, this.indexLength).then(() => this.index.datasync()),
      ]);
      for (const d of done) if (d.status === 'rejected') throw d.reason;
    } catch (err) {
      await Promise.allSettled([this.data.truncate(this.end_ - this.begin), this.index.truncate(this.indexLength)]);
      throw storageError(err, `appending to ${this.path}`);
    }
    this.end_ = end;
    this.indexLength += RECORD;
    this.firstAppendAt ??= Date.now();
  }

  /** Reads committed bytes from `offset`, at most `max`. */
  async read(offset: number, max: number): Promise<Buffer> {
    const n = Math.max(0, Math.min(max, this.end_ - offset));
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await this.data.read(buf, got, n - got, offset - this.begin + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === n ? buf : buf.subarray(0, got);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.data.close(), this.index.close()]);
  }

  /** Closes and deletes the spool's files (once its fragment is safely in a store). */
  async remove(): Promise<void> {
    await this.close();
    // Data first: an index without its data is ignored at recovery; data without its index is not.
    await unlink(this.path).catch(() => undefined);
    await unlink(`${this.path}.index`).catch(() => undefined);
  }
}

async function writevAll(fh: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  // writev may write less than asked (large batches); continue where it stopped.
  let pending = buffers;
  while (pending.length > 0) {
    const { bytesWritten } = await fh.writev(pending, position);
    position += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of pending) {
      if (skip >= b.length) {
        skip -= b.length;
      } else {
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    pending = rest;
  }
}
