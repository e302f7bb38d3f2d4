import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readFileSync } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { InletError, storageError } from '../errors.js';
import { fsyncDir } from './fsutil.js';
import type { OpenFiles } from './open-files.js';
import { checkSpool, describeRanges, encodeRecord, RECORD, type DamagedRange } from './spool-check.js';

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

interface Files {
  readonly data: FileHandle;
  readonly index: FileHandle;
}

/**
 * A local file holding a journal's bytes `[begin, end)`, exactly as appended, plus a
 * side index of commit records (`end` offset, CRC-32 of the batch, CRC-32 of the record).
 *
 * A batch is durable once both files are fdatasync'd. Because batch N+1 is written only
 * after batch N is durable, recovery has only the last record in doubt: every record and
 * every batch is checked against its CRC; an unacknowledged tail (the one batch in doubt and
 * bytes no record covers) is cut. Any other mismatch means acknowledged bytes were damaged:
 * the spool is then moved aside whole, never truncated, and recovery fails naming the ranges.
 *
 * Its files are open only while used recently: an `OpenFiles` cap closes idle spools' files,
 * and they reopen on the next read or commit.
 */
export class Spool {
  /** Set once the spool takes no more appends; it then waits to be persisted as a fragment. */
  sealed = false;
  /** Set once its fragment is confirmed in a store. */
  persisted = false;
  private files: Promise<Files> | undefined;
  private users = 0;

  private constructor(
    readonly dir: string,
    readonly begin: number,
    private end_: number,
    private readonly limit: OpenFiles,
    files: Files | undefined,
    private indexLength: number,
    /** When the first append landed (ms since epoch), for path postfixes and flush intervals. */
    public firstAppendAt: number | undefined,
  ) {
    if (files) {
      this.files = Promise.resolve(files);
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

  get path(): string {
    return join(this.dir, spoolFileName(this.begin));
  }

  /** True while a read or commit uses the spool's files. */
  get busy(): boolean {
    return this.users > 0;
  }

  /** Creates an empty spool at `begin`; fails if one exists. */
  static async create(dir: string, begin: number, limit: OpenFiles): Promise<Spool> {
    const path = join(dir, spoolFileName(begin));
    let data: FileHandle | undefined;
    let index: FileHandle | undefined;
    try {
      data = await open(path, 'wx+');
      index = await open(`${path}.index`, 'wx+');
      await fsyncDir(dir);
      return new Spool(dir, begin, begin, limit, { data, index }, 0, undefined);
    } catch (err) {
      // Leave nothing behind, or every later attempt would fail on the existing name.
      await Promise.allSettled([data?.close(), index?.close()]);
      if (data) await Promise.allSettled([unlink(path), unlink(`${path}.index`)]);
      throw storageError(err, `creating spool ${path}`);
    }
  }

  /**
   * Opens a spool after a restart or crash, cutting only an unacknowledged tail (reported in
   * `cut`). A damaged spool is moved aside (`<file>.damaged`, both files whole) and recovery
   * throws JOURNAL_FAILED whose details name the spool, where it went and each damaged range.
   */
  static async recover(dir: string, begin: number, limit: OpenFiles): Promise<{ spool: Spool; cut: number }> {
    const path = join(dir, spoolFileName(begin));
    // Synchronous: recovery runs before the broker serves, and one thread pool hop per call
    // made a restart with 10,000 journals take tens of seconds. The files reopen on first use.
    let data: number | undefined = openSync(path, 'r+');
    let index: number | undefined;
    const closeBoth = () => {
      // Each descriptor is closed once: a number closed twice may already name another file.
      if (data !== undefined) closeSync(data);
      if (index !== undefined) closeSync(index);
      data = index = undefined;
    };
    try {
      index = openIfExists(`${path}.index`);
      const raw = index === undefined ? undefined : readFileSync(index);
      const check = checkSpool(data, raw, begin);
      if (check.kind === 'damaged') {
        closeBoth();
        throw await moveAside(dir, path, check.ranges, check.verifiedEnd, check.claimedEnd);
      }
      const { end, records, unacknowledged } = check;
      // Created when missing: the spool file is created before its index, so a crash between leaves an empty spool.
      index ??= openSync(`${path}.index`, 'w+');
      if (unacknowledged > 0) ftruncateSync(data, end - begin);
      if (raw !== undefined && raw.length !== records * RECORD) ftruncateSync(index, records * RECORD);
      if (unacknowledged > 0 || (raw !== undefined && raw.length !== records * RECORD)) {
        fdatasyncSync(data);
        fdatasyncSync(index);
      }
      // The spool file is created by its first append, so its birth time is that append's time.
      const st = fstatSync(index);
      const firstAppendAt = end > begin ? st.birthtimeMs || st.mtimeMs : undefined;
      closeBoth();
      return { spool: new Spool(dir, begin, end, limit, undefined, records * RECORD, firstAppendAt), cut: unacknowledged };
    } catch (err) {
      closeBoth();
      throw err;
    }
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
    const rec = encodeRecord(end, crc);
    await this.use(async ({ data, index }) => {
      try {
        // Data and record are written and synced side by side: the batch counts only once both
        // are synced, and recovery checks every record against the data, so their order on
        // disk does not matter. Both must settle before a failure truncates them.
        const done = await Promise.allSettled([
          writevAll(data, buffers, this.end_ - this.begin).then(() => data.datasync()),
          index.write(rec, 0, RECORD, this.indexLength).then(() => index.datasync()),
        ]);
        for (const d of done) if (d.status === 'rejected') throw d.reason;
      } catch (err) {
        await Promise.allSettled([data.truncate(this.end_ - this.begin), index.truncate(this.indexLength)]);
        throw storageError(err, `appending to ${this.path}`);
      }
    });
    this.end_ = end;
    this.indexLength += RECORD;
    this.firstAppendAt ??= Date.now();
  }

  /** Reads committed bytes from `offset`, at most `max`. */
  read(offset: number, max: number): Promise<Buffer> {
    return this.use(async ({ data }) => {
      const n = Math.max(0, Math.min(max, this.end_ - offset));
      const buf = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const { bytesRead } = await data.read(buf, got, n - got, offset - this.begin + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === n ? buf : buf.subarray(0, got);
    });
  }

  /** Runs `fn` with the spool's files, reopening them if the open-files cap closed them. */
  private async use<T>(fn: (files: Files) => Promise<T>): Promise<T> {
    this.users++;
    try {
      const files = await (this.files ??= this.reopen());
      this.limit.used(this);
      return await fn(files);
    } catch (err) {
      throw (err as NodeJS.ErrnoException).code && !(err instanceof InletError) ? storageError(err, `opening ${this.path}`) : err;
    } finally {
      this.users--;
    }
  }

  private reopen(): Promise<Files> {
    const opening = (async () => {
      const data = await open(this.path, 'r+');
      const index = await open(`${this.path}.index`, 'r+').catch(async (err: unknown) => {
        await data.close();
        throw err;
      });
      return { data, index };
    })();
    // A failed open is retried by the next use, not remembered.
    opening.catch(() => {
      if (this.files === opening) this.files = undefined;
    });
    return opening;
  }

  /** Closes the spool's files until their next use (the open-files cap calls this on idle spools). */
  closeFiles(): void {
    const files = this.files;
    this.files = undefined;
    this.limit.closed(this);
    void files?.then(
      ({ data, index }) => Promise.allSettled([data.close(), index.close()]),
      () => undefined,
    );
  }

  async close(): Promise<void> {
    const files = this.files;
    this.files = undefined;
    this.limit.closed(this);
    const f = await files?.catch(() => undefined);
    if (f) await Promise.allSettled([f.data.close(), f.index.close()]);
  }

  /** Closes and deletes the spool's files (once its fragment is safely in a store). */
  async remove(): Promise<void> {
    await this.close();
    // Data first: an index without its data is ignored at recovery; data without its index is not.
    await unlink(this.path).catch(() => undefined);
    await unlink(`${this.path}.index`).catch(() => undefined);
  }
}

function openIfExists(path: string): number | undefined {
  try {
    return openSync(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Moves a damaged spool's files aside whole (`<file>.damaged`) and returns the JOURNAL_FAILED
 * error that says which offsets could not be kept.
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
