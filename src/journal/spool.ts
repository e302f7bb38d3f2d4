import { closeSync, existsSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync, writevSync } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { crashPoint } from '../crashpoints.js';
import { InletError, storageError } from '../errors.js';
import { fsyncDir } from './fsutil.js';
import type { OpenFiles } from './open-files.js';
import { checkFrames, describeRanges, type DamagedRange } from './spool-check.js';
import { checkLegacySpool, convertLegacySpool } from './spool-legacy.js';
import { decodeFileHeader, encodeFileHeader, encodeFrameHeader, FILE_HEADER, FRAME_HEADER, isTornFileHeader } from './spool-format.js';

/** `@0000000000001f00.spool`: a spool's file name is its begin offset. */
export function spoolFileName(begin: number): string {
  return `@${begin.toString(16).padStart(16, '0')}.spool`;
}

export function parseSpoolFileName(file: string): number | null {
  const m = file.match(/^@([0-9a-f]{16})\.spool$/);
  return m ? parseInt(m[1]!, 16) : null;
}

/** The suffix a damaged spool's files get when recovery moves them aside. */
export const DAMAGED_SUFFIX = '.damaged';


/** One batch written to the file and not yet known durable. */
interface Frame {
  readonly end: number;
  /** The file position just past the frame. */
  readonly next: number;
  /** How many frames the spool holds up to and including this one. */
  readonly count: number;
  /** The failed-fsync epoch the frame was written in (see `Spool.epoch`). */
  readonly epoch: number;
  readonly durable: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * A local file holding a journal's bytes `[begin, end)`, exactly as appended, framed by commit
 * records (format 2, spool-format.ts): `[file header] ([frame header] payload)*`. Each frame is
 * one committed batch; its header carries the batch's `end`, the CRC-32 of its bytes, and
 * `durable`, the end of the frames known fsync'd when it was written.
 *
 * **Pipelined commit.** `write` puts batch n+1 in the file while the fdatasync covering batch n
 * is still in flight; one fdatasync at a time runs, and each covers every frame written before it
 * started. The invariants:
 *   1. A batch is acknowledged (its `durable` promise resolves) only once an fdatasync that began
 *      after its write completed has succeeded. Acknowledgements go in file order, which is
 *      offset order: an fsync covers a prefix of the frames not yet durable.
 *   2. `end` (what readers see, and the journal's head) is only ever the end of durable frames.
 *      `writeEnd` runs ahead of it by the frames in flight.
 *   3. A failed fdatasync fails every frame it covered and every frame written behind them
 *      (their pages' fate is unknown after a failed fsync, and no acknowledged frame may sit
 *      behind a lost one): `writeEnd` goes back to `end`, the file is cut back to the durable
 *      frames before any later write, and a write in flight across the failure is failed too.
 *   4. A failed write fails its own batch only (nothing is written behind it: writes go one at a
 *      time); its bytes are cut off, or overwritten by the next write where cutting fails.
 *
 * **Recovery** (checkFrames in spool-check.ts). Every frame header and payload is checked against
 * its CRC. A frame's `durable` says which offsets were fsync'd before it was written, so the
 * highest `durable` of any intact header is a watermark of bytes that were acknowledged or could
 * have been. A frame below the watermark that fails its check is damage of acknowledged bytes:
 * the spool is moved aside whole, never truncated, and recovery fails naming the ranges. A first
 * problem at or past the watermark is the tail in flight at the crash (with pipelining, the
 * frames of up to two fsyncs, in any state: torn, missing, or whole behind a torn one): the file
 * is cut at it. An acknowledged frame above the watermark (the last one fsync'd, no frame written
 * after it) is trusted to its own CRC, as it was when the last batch alone could be in doubt.
 *
 * Format 1 (data file plus a side index of commit records, each batch fsync'd on its own before
 * the next) is converted to format 2 at recovery; see `recover`.
 *
 * Small batches write zeros ahead of them (PREALLOCATE): they hold no frame header, so recovery
 * takes a tail of zeros for the end of the frames.
 *
 * Its file is open only while used recently: an `OpenFiles` cap closes idle spools' files,
 * and they reopen on the next read or commit.
 */
export class Spool {
  /** Set once the spool takes no more appends; it then waits to be persisted as a fragment. */
  sealed = false;
  /** Set once its fragment is confirmed in a store. */
  persisted = false;
  private file: Promise<FileHandle> | undefined;
  private users = 0;
  /** The journal offset each frame written ends at (`frames` of them; durable ones first). */
  private ends: Float64Array;
  private frames: number;
  private writeEnd_: number;
  /** The file position just past the frames written, where the next frame goes. */
  private filePos: number;
  /** The file position just past the durable frames. */
  private durablePos: number;
  /** The file position up to which the file's blocks are written (frames, then zeros ahead: see PREALLOCATE). */
  private allocated: number;
  private durableFrames: number;
  /** Frames written and not yet covered by an fdatasync. */
  private unsynced: Frame[] = [];
  private syncing = false;
  private writing = false;
  /** Bumped by each failed fdatasync: a frame written in an older epoch behind it is void. */
  private epoch = 0;
  private syncError: unknown;
  /** The cut after a failed fdatasync, which the next write waits for. */
  private cutting: Promise<void> | undefined;
  private headerTime: number | undefined;

  private constructor(
    readonly dir: string,
    readonly begin: number,
    private end_: number,
    private readonly limit: OpenFiles,
    file: FileHandle | undefined,
    ends: readonly number[],
    fileEnd: number,
    /** When the first append landed (ms since epoch), for path postfixes and flush intervals. */
    public firstAppendAt: number | undefined,
  ) {
    this.ends = new Float64Array(Math.max(16, ends.length * 2));
    this.ends.set(ends);
    this.frames = this.durableFrames = ends.length;
    this.writeEnd_ = end_;
    this.filePos = this.durablePos = this.allocated = fileEnd;
    if (file) {
      this.file = Promise.resolve(file);
      limit.used(this);
    }
  }

  /** The end of durable, committed bytes. */
  get end(): number {
    return this.end_;
  }

  get length(): number {
    return this.end_ - this.begin;
  }

  /** The end of the bytes written, durable or still in flight: where the next batch begins. */
  get writeEnd(): number {
    return this.writeEnd_;
  }

  get path(): string {
    return join(this.dir, spoolFileName(this.begin));
  }

  /** True while a read, write or fsync uses the spool's file. */
  get busy(): boolean {
    return this.users > 0;
  }

  /** Creates an empty spool at `begin`; fails if one exists. Its file header is written with its first batch. */
  static async create(dir: string, begin: number, limit: OpenFiles): Promise<Spool> {
    const path = join(dir, spoolFileName(begin));
    let data: FileHandle | undefined;
    try {
      data = await open(path, 'wx+');
      await fsyncDir(dir);
      return new Spool(dir, begin, begin, limit, data, [], 0, undefined);
    } catch (err) {
      // Leave nothing behind, or every later attempt would fail on the existing name.
      await data?.close().catch(() => undefined);
      if (data) await unlink(path).catch(() => undefined);
      throw storageError(err, `creating spool ${path}`);
    }
  }

  /**
   * Opens a spool after a restart or crash, cutting only the tail that was in flight (its
   * offsets' count is `cut`). A damaged spool is moved aside (`<file>.damaged`, whole) and
   * recovery throws JOURNAL_FAILED whose details name the spool, where it went and each damaged
   * range. A format-1 spool (with a `.index` file) is checked as such and rewritten as format 2.
   */
  static async recover(dir: string, begin: number, limit: OpenFiles): Promise<{ spool: Spool; cut: number }> {
    const path = join(dir, spoolFileName(begin));
    const index = `${path}.index`;
    // Synchronous: recovery runs before the broker serves, and one thread pool hop per call
    // made a restart with 10,000 journals take tens of seconds. The file reopens on first use.
    let fd: number | undefined = openSync(path, 'r+');
    const close = () => {
      // Closed once: a number closed twice may already name another file.
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    };
    try {
      const head = Buffer.alloc(FILE_HEADER);
      const headBytes = readSync(fd, head, 0, FILE_HEADER, 0);
      let header = decodeFileHeader(head.subarray(0, headBytes), begin);
      let legacyCut = 0;
      if (header) {
        // A format-1 index left by a conversion that was cut short after its rename.
        if (existsSync(index)) unlinkSync(index);
      } else if (existsSync(index)) {
        close();
        const converted = convertLegacySpool(path, begin);
        if (converted.kind === 'damaged') throw await moveAside(dir, path, converted.ranges, converted.verifiedEnd, converted.claimedEnd);
        legacyCut = converted.cut;
        if (converted.firstAppendAt !== undefined) header = { firstAppendAt: converted.firstAppendAt };
        fd = openSync(path, 'r+');
      } else if (!isTornFileHeader(head.subarray(0, headBytes), begin)) {
        // Neither format 2 nor a format-2 spool torn at its first write: format-1 data whose index is missing.
        const check = checkLegacySpool(fd, undefined, begin);
        close();
        if (check.kind === 'damaged') throw await moveAside(dir, path, check.ranges, check.verifiedEnd, check.claimedEnd);
        // Empty data and no index: an empty spool either way.
      }
      fd ??= openSync(path, 'r+');
      const check = checkFrames(fd, begin);
      if (check.kind === 'damaged') {
        close();
        throw await moveAside(dir, path, check.ranges, check.verifiedEnd, check.claimedEnd);
      }
      const { end, ends } = check;
      // An empty spool is an empty file: its header is written with its first batch.
      const fileEnd = end === begin ? 0 : check.fileEnd;
      const st = fstatSync(fd);
      const firstAppendAt = end > begin ? (header?.firstAppendAt ?? (st.birthtimeMs || st.mtimeMs)) : undefined;
      let changed = false;
      if (st.size !== fileEnd) {
        ftruncateSync(fd, fileEnd);
        changed = true;
      }
      if (end > begin && !header) {
        // Frames that verify behind a file header torn at the first write: the header is written again.
        writeSync(fd, encodeFileHeader(begin, firstAppendAt!), 0, FILE_HEADER, 0);
        changed = true;
      }
      if (changed) fdatasyncSync(fd);
      close();
      return { spool: new Spool(dir, begin, end, limit, undefined, ends, fileEnd, firstAppendAt), cut: check.cut + legacyCut };
    } catch (err) {
      close();
      throw err;
    }
  }

  /**
   * Writes one batch as a frame behind those in flight, and resolves once it is written (not
   * yet durable) with `durable`, which resolves once an fdatasync covers it, or rejects (a
   * storage error) if that fails. One write at a time: the caller waits for this to resolve
   * before writing the next batch. Throws a storage error if the write itself fails; `writeEnd`
   * does not move then.
   */
  async write(buffers: Buffer[], length: number): Promise<{ durable: Promise<void> }> {
    if (this.writing) throw new InletError('INTERNAL', `spool ${this.path}: a write is already under way`);
    if (length <= 0 || length > 0xffffffff) throw new InletError('INTERNAL', `spool ${this.path}: a batch of ${length} bytes`);
    this.writing = true;
    try {
      await this.cutting;
      let crc = 0;
      for (const b of buffers) crc = crc32(b, crc);
      const begin = this.writeEnd_;
      const end = begin + length;
      const pos = this.filePos;
      const parts = [encodeFrameHeader(begin, end, this.end_, crc), ...buffers];
      if (pos === 0) {
        this.headerTime = Date.now();
        parts.unshift(encodeFileHeader(this.begin, this.headerTime));
      }
      const next = pos + (pos === 0 ? FILE_HEADER : 0) + FRAME_HEADER + length;
      const inline = length <= INLINE_IO;
      // Zeros ahead of small batches, so the fdatasyncs of the next ones change no file size.
      const ahead = inline && next > this.allocated ? Math.min(PREALLOCATE, Math.max(PAGE, next)) : 0;
      this.allocated = Math.max(this.allocated, next);
      const epoch = this.epoch;
      this.writeEnd_ = end;
      this.filePos = next;
      this.pushEnd(end);
      try {
        await this.use((fh) => writevAll(fh, parts, pos, inline).catch((err: unknown) => Promise.reject(storageError(err, `appending to ${this.path}`))));
      } catch (err) {
        if (epoch === this.epoch) {
          this.writeEnd_ = begin;
          this.filePos = pos;
          this.frames--;
        }
        // Cut what was written where possible; the next write overwrites it otherwise.
        this.allocated = Math.min(this.allocated, this.filePos);
        await this.use((fh) => fh.truncate(this.filePos)).catch(() => undefined);
        throw err;
      }
      if (ahead > 0) await this.use(async (fh) => this.writeAhead(fh.fd, next, ahead));
      if (epoch !== this.epoch) {
        // An fdatasync failed while this was written: it sits behind a frame whose fate is unknown.
        this.allocated = Math.min(this.allocated, this.filePos);
        await this.use((fh) => fh.truncate(this.filePos)).catch(() => undefined);
        throw this.syncError;
      }
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const durable = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      // The caller attaches its handlers once this resolves; a failure before then is not unhandled.
      durable.catch(() => undefined);
      this.unsynced.push({ end, next, count: this.frames, epoch, durable, resolve, reject });
      // A crash here leaves a frame written behind one whose fdatasync is in flight.
      if (this.syncing) crashPoint('spool.pipelined');
      this.sync();
      return { durable };
    } finally {
      this.writing = false;
    }
  }

  /**
   * Fills `[from, from + n)` with zeros (see PREALLOCATE), at best: on a disk too full for them
   * the file is cut back to `from` and batches go on extending it.
   */
  private writeAhead(fd: number, from: number, n: number): void {
    try {
      for (let at = 0; at < n; ) at += writeSync(fd, ZEROS, at, n - at, from + at);
      this.allocated = Math.max(this.allocated, from + n);
    } catch {
      try {
        ftruncateSync(fd, from);
      } catch {
        // Zeros or not, past `from` is no frame: recovery cuts it, and the next batch overwrites it.
      }
    }
  }

  /** Starts an fdatasync covering every frame written so far, unless one is under way (it starts when that one ends). */
  private sync(): void {
    if (this.syncing || this.unsynced.length === 0) return;
    const covered = this.unsynced.splice(0);
    this.syncing = true;
    this.use((fh) => fh.datasync().catch((err: unknown) => Promise.reject(storageError(err, `appending to ${this.path}`)))).then(
      () => {
        this.syncing = false;
        const last = covered.at(-1)!;
        this.end_ = last.end;
        this.durablePos = last.next;
        this.durableFrames = last.count;
        this.firstAppendAt ??= this.headerTime ?? Date.now();
        for (const f of covered) f.resolve();
        this.syncSoon();
      },
      (error: unknown) => {
        this.syncing = false;
        this.epoch++;
        this.syncError = error;
        const failed = [...covered, ...this.unsynced.splice(0)];
        this.writeEnd_ = this.end_;
        this.filePos = this.durablePos;
        this.allocated = Math.min(this.allocated, this.durablePos);
        this.frames = this.durableFrames;
        const cut = this.use((fh) => fh.truncate(this.durablePos)).catch(() => undefined);
        this.cutting = cut;
        void cut.then(() => {
          if (this.cutting === cut) this.cutting = undefined;
        });
        for (const f of failed) f.reject(error);
      },
    );
  }

  /**
   * Starts the next fdatasync once the appends set off by the acknowledgements just given had a
   * turn of the event loop to be written (a write under way starts it when it ends). Started at
   * once, it would cover only the frames written behind the last one, and appenders that wait
   * for their acknowledgement would split into two groups riding alternate fsyncs, each half
   * the size: half the appends per fsync when fsyncs are what bounds them.
   */
  private syncSoon(): void {
    setImmediate(() =>
      setImmediate(() => {
        if (!this.writing) this.sync();
      }),
    );
  }

  private pushEnd(end: number): void {
    if (this.frames === this.ends.length) {
      const grown = new Float64Array(this.ends.length * 2);
      grown.set(this.ends);
      this.ends = grown;
    }
    this.ends[this.frames++] = end;
  }

  /** The index of the frame holding `offset`: the first whose end is past it. */
  private frameAt(offset: number): number {
    let lo = 0;
    let hi = this.frames - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! > offset) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** The file position of journal offset `offset` in frame `k`. */
  private positionOf(offset: number, k: number): number {
    return FILE_HEADER + (k + 1) * FRAME_HEADER + (offset - this.begin);
  }

  /** Reads committed bytes from `offset`, at most `max`. */
  read(offset: number, max: number): Promise<Buffer> {
    const until = Math.min(offset + max, this.end_);
    if (until <= offset) return Promise.resolve(Buffer.alloc(0));
    // Frames are found before the read starts: a failed fsync may drop frames in the meantime,
    // but never durable ones, and only durable bytes are read.
    const first = this.frameAt(offset);
    const last = this.frameAt(until - 1);
    const from = this.positionOf(offset, first);
    const to = this.positionOf(until, last);
    const segments: [number, number][] = [];
    for (let k = first; k <= last; k++) {
      const b = Math.max(offset, k === 0 ? this.begin : this.ends[k - 1]!);
      const e = Math.min(until, this.ends[k]!);
      segments.push([this.positionOf(b, k) - from, this.positionOf(e, k) - from]);
    }
    return this.use(async (fh) => {
      const buf = Buffer.allocUnsafe(to - from);
      const inline = buf.length <= INLINE_IO;
      let got = 0;
      while (got < buf.length) {
        const bytesRead = inline ? readSync(fh.fd, buf, got, buf.length - got, from + got) : (await fh.read(buf, got, buf.length - got, from + got)).bytesRead;
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (segments.length === 1) return got === buf.length ? buf : buf.subarray(0, got);
      // Several frames: their payloads without the headers between them.
      const out = Buffer.allocUnsafe(until - offset);
      let n = 0;
      for (const [s, e] of segments) {
        if (e > got) {
          if (s < got) n += buf.copy(out, n, s, got);
          break;
        }
        n += buf.copy(out, n, s, e);
      }
      return n === out.length ? out : out.subarray(0, n);
    });
  }

  /** Runs `fn` with the spool's file, reopening it if the open-files cap closed it. */
  private async use<T>(fn: (file: FileHandle) => Promise<T>): Promise<T> {
    this.users++;
    try {
      const file = await (this.file ??= this.reopen());
      this.limit.used(this);
      return await fn(file);
    } catch (err) {
      throw (err as NodeJS.ErrnoException).code && !(err instanceof InletError) ? storageError(err, `opening ${this.path}`) : err;
    } finally {
      this.users--;
    }
  }

  private reopen(): Promise<FileHandle> {
    const opening = open(this.path, 'r+');
    // A failed open is retried by the next use, not remembered.
    opening.catch(() => {
      if (this.file === opening) this.file = undefined;
    });
    return opening;
  }

  /** Closes the spool's file until its next use (the open-files cap calls this on idle spools). */
  closeFiles(): void {
    const file = this.file;
    this.file = undefined;
    this.limit.closed(this);
    void file?.then(
      (fh) => fh.close().catch(() => undefined),
      () => undefined,
    );
  }

  async close(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    this.limit.closed(this);
    const fh = await file?.catch(() => undefined);
    await fh?.close().catch(() => undefined);
  }

  /** Closes and deletes the spool's file (once its fragment is safely in a store). */
  async remove(): Promise<void> {
    await this.close();
    await unlink(this.path).catch(() => undefined);
  }
}

/**
 * Moves a damaged spool's files aside whole (`<file>.damaged`, and a format-1 index beside it)
 * and returns the JOURNAL_FAILED error that says which offsets could not be kept.
 */
async function moveAside(dir: string, path: string, ranges: readonly DamagedRange[], verifiedEnd: number, claimedEnd: number): Promise<InletError> {
  await rename(path, path + DAMAGED_SUFFIX);
  await rename(`${path}.index`, `${path}.index${DAMAGED_SUFFIX}`).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await fsyncDir(dir);
  return new InletError(
    'JOURNAL_FAILED',
    `spool ${basename(path)} is damaged: ${describeRanges(ranges)}; offsets [${verifiedEnd}, ${claimedEnd}) are not served; its files were moved aside to ${basename(path)}${DAMAGED_SUFFIX}`,
    { details: { verifiedEnd, claimedEnd, ranges } },
  );
}

/**
 * Batches and reads up to this many bytes use the file on the event loop's thread: a copy to or
 * from the page cache (microseconds) instead of a trip through libuv's thread pool, whose hand-off
 * and wake-up cost more than the copy and, on busy cores, most of a small append's latency.
 */
const INLINE_IO = 64 << 10;

/**
 * How far ahead of small batches the file is filled with zeros: as much as it holds already (a
 * page at least), up to this, so a journal written little uses little disk. An fdatasync that
 * must also record a new file size commits the file system's journal; one over blocks already
 * written does not: measured here (ext4), 1 KiB writes each fdatasync'd took p50 0.15-0.19 ms
 * over zeros against 0.26-0.35 ms extending the file, mean ~30% lower. Large batches extend the
 * file as before (zeros would double what they write). Recovery cuts the zeros (spool-check.ts:
 * a tail of zeros is no frame).
 */
const PREALLOCATE = 256 << 10;
const PAGE = 4096;
const ZEROS = Buffer.alloc(PREALLOCATE);

async function writevAll(fh: FileHandle, buffers: Buffer[], position: number, inline = false): Promise<void> {
  // writev may write less than asked (large batches); continue where it stopped.
  let pending = buffers;
  while (pending.length > 0) {
    const bytesWritten = inline ? writevSync(fh.fd, pending, position) : (await fh.writev(pending, position)).bytesWritten;
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
