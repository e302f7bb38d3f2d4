import { closeSync, constants, fdatasyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crashPoint } from '../crashpoints.js';
import { signal, type Signal } from './deferred.js';
import { fsyncDir } from './fsutil.js';
import { pruneProducers, type ProducerState } from './stream-state.js';

/** The log's file in a journal's folder (`@` files are the journal's own: see removeOwnFiles). */
export const PRODUCER_LOG_FILE = '@producers.log';

/** Past this many bytes the log is folded into the journal's record and starts over. */
const COMPACT_BYTES = 1 << 20;

/** One line of the log: a producer's state after an accepted append. */
interface Line extends ProducerState {
  id: string;
}

/** A line given to the log, from `log` until its append is confirmed or cancelled. */
interface Entry {
  readonly line: Line;
  /** Where the line begins in the file, once written. */
  pos: number;
  /** Its append's bytes are durable. */
  confirmed: boolean;
  /** The line is fsync'd. */
  synced: boolean;
  settled: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

/** The handle of one line: see `ProducerLog.log`. */
export interface LoggedLine {
  /** Resolves once the line is fsync'd; rejects if writing it failed (whether it landed is then unknown). */
  readonly written: Promise<void>;
  /** The append the line describes is durable: once the line is too, its state is `durable`. */
  confirm(): void;
  /**
   * The append the line describes failed: the line is cut from the log (a queued one is never
   * written). Resolves once the cut is durable; rejects if cutting failed.
   */
  cancel(): Promise<void>;
}

/**
 * The idempotent producers' progress of one journal, made durable as an append-only log beside
 * the journal's record.
 *
 * Each accepted producer append adds one JSON line (id, epoch, seq, the append's `[begin, end)`).
 * The line is written as soon as the append's bytes are written to the journal's spool, so the
 * spool's fdatasync and the log's run at once, and the append is acknowledged once both are
 * durable (one fsync's wait, not two in a row); lines added while a write is under way go out
 * together with the next (group commit). Rewriting the record instead (write, fsync, rename,
 * fsync the folder) cost ~3 ms per append on this machine, one fdatasync ~0.7 ms.
 *
 * Invariants, for recovery:
 * - A line is written only once its append's bytes are written to a spool. Journals are
 *   append-only and a spool leaves the broker only once every byte in it is durable, so after a
 *   crash the journal's recovered head says which lines describe durable appends: those whose
 *   `end` is at or below it. Load drops, durably, the lines past the head (their appends were
 *   in flight and are gone: their retries are written again, as they must be) and keeps the
 *   others, among them a retry's line of an older state written after them.
 * - An append whose bytes failed to become durable while the broker runs has its line cut
 *   (`cancel`), and the journal writes nothing more until that cut is durable: its offsets are
 *   taken by other bytes next, and a line left behind would then pass the head test.
 * - Lines apply in order over the record's producers, each only if its (epoch, seq) is newer than
 *   what it replaces: lines older than a compacted record are harmless.
 * - A torn last line (a crash mid-write) was never acknowledged: it is cut at load.
 * - An append whose bytes are durable but whose line is not (a crash between) was never
 *   acknowledged; after a restart the producer's state lacks it, and its retry is written again:
 *   the journal then holds it twice, as with any unacknowledged append retried.
 *
 * `durable` is what the record must hold of producers: lines fsync'd whose appends are
 * confirmed durable, and no state of an append still in flight. Folding the log into the record
 * waits until every line written is confirmed or cancelled.
 */
export class ProducerLog {
  private readonly path: string;
  private fh: FileHandle | undefined;
  private size: number;
  private queued: Entry[] = [];
  /** Lines written whose appends are neither confirmed nor cancelled. */
  private readonly open = new Set<Entry>();
  private settledSignal: Signal | undefined;
  /** Where the log must be cut back to before anything else is written, and who waits for it. */
  private cutTo: number | undefined;
  private cutWaiters: { resolve(): void; reject(e: unknown): void }[] = [];
  private writing = false;
  /** The file's folder entry is durable (fsync'd once per process, the file being created or not). */
  private linked = false;
  /** Set by close: the journal is gone or closing; nothing is written or reopened after. */
  private closed = false;

  private constructor(
    private readonly dir: string,
    size: number,
    /** The durable state of each producer: the record's, then the log's lines. */
    readonly durable: Map<string, ProducerState>,
    private readonly compact: () => Promise<void>,
  ) {
    this.path = join(dir, PRODUCER_LOG_FILE);
    this.size = size;
  }

  /**
   * Reads the log of the journal in `dir` over the record's `producers`, cutting a torn last line
   * and every line from the first whose append ends past `head` (the journal's recovered head;
   * Infinity when it holds no spool, so every append logged is durable). `compact` must make
   * `durable` the record's producers durably; it is called when the log has grown past its
   * limit, after which the log starts over.
   */
  static load(dir: string, producers: Record<string, ProducerState> | undefined, head: number, compact: () => Promise<void>): ProducerLog {
    const durable = new Map(Object.entries(producers ?? {}));
    const path = join(dir, PRODUCER_LOG_FILE);
    let text: string;
    try {
      text = readFileSync(path, 'latin1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return new ProducerLog(dir, 0, durable, compact);
    }
    // Whole lines up to the first torn or unreadable one; of those, the lines of appends lost at
    // a crash (past the head) are dropped, and the rest kept: a retry's line, written after later
    // appends', may be the only record of its state.
    let whole = 0;
    let cut = -1;
    const kept: string[] = [];
    for (let at = 0; at < text.length; ) {
      const nl = text.indexOf('\n', at);
      if (nl < 0) break;
      let line: Line;
      try {
        line = JSON.parse(Buffer.from(text.slice(at, nl), 'latin1').toString('utf8')) as Line;
      } catch {
        break;
      }
      if (typeof line?.id !== 'string' || !Number.isInteger(line.lastSeq) || !Number.isInteger(line.epoch)) break;
      if (line.end !== undefined && line.end > head) {
        if (cut < 0) cut = at;
      } else {
        apply(durable, line);
        if (cut >= 0) kept.push(text.slice(at, nl + 1));
      }
      whole = at = nl + 1;
    }
    let size = whole;
    if (cut >= 0 || whole < text.length) {
      // Durably: lines of lost appends left in the file would pass the head test once the journal grows past them.
      const tail = Buffer.from(kept.join(''), 'latin1');
      size = (cut >= 0 ? cut : whole) + tail.length;
      const fd = openSync(path, 'r+');
      try {
        ftruncateSync(fd, cut >= 0 ? cut : whole);
        for (let at = 0; at < tail.length; ) at += writeSync(fd, tail, at, tail.length - at, cut + at);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    return new ProducerLog(dir, size, durable, compact);
  }

  /**
   * Logs `state` as producer `id`'s, for an append whose bytes are written to the journal (not
   * yet durable). The caller then calls `confirm` or `cancel` on the handle, exactly once.
   */
  log(id: string, state: ProducerState): LoggedLine {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const written = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    // A cancelled line's failure is its append's, reported there.
    written.catch(() => undefined);
    const e: Entry = { line: { id, ...state }, pos: -1, confirmed: false, synced: false, settled: false, resolve, reject };
    if (this.closed) {
      reject(new Error(`producer log ${this.path} is closed`));
      e.settled = true;
    } else {
      this.queued.push(e);
      this.kick();
    }
    return { written, confirm: () => this.confirm(e), cancel: () => this.cancel(e) };
  }

  /** Makes `state` producer `id`'s durable state, its append being durable already; resolves once fsync'd. */
  record(id: string, state: ProducerState): Promise<void> {
    const line = this.log(id, state);
    line.confirm();
    return line.written;
  }

  /** The durable producers not yet idle past their time to live, for the journal's record (the others are forgotten). */
  snapshot(): Record<string, ProducerState> {
    const live = pruneProducers(Object.fromEntries(this.durable));
    for (const id of this.durable.keys()) if (!(id in live)) this.durable.delete(id);
    return live;
  }

  /** Closes the file; the log is not used after. */
  async close(): Promise<void> {
    this.closed = true;
    await this.closeFile();
  }

  private confirm(e: Entry): void {
    if (e.confirmed) return;
    e.confirmed = true;
    if (e.synced) apply(this.durable, e.line);
    this.settle(e);
  }

  private cancel(e: Entry): Promise<void> {
    const at = this.queued.indexOf(e);
    if (at >= 0) {
      this.queued.splice(at, 1);
      e.settled = true;
      e.reject(new Error('its append failed'));
      return Promise.resolve();
    }
    if (e.pos < 0) return Promise.resolve(); // never queued: the log was closed
    // Taken by a write (perhaps still opening the file), or written: cut from its position.
    this.settle(e);
    // Written (or perhaps written, by a write that failed): lines are written in the journal's commit order, and every append behind a failed
    // one fails too, so everything from this line on goes.
    this.cutTo = Math.min(this.cutTo ?? Infinity, e.pos);
    const cut = new Promise<void>((resolve, reject) => this.cutWaiters.push({ resolve, reject }));
    this.kick();
    return cut;
  }

  private settle(e: Entry): void {
    e.settled = true;
    if (!this.open.delete(e) || this.open.size > 0) return;
    const s = this.settledSignal;
    this.settledSignal = undefined;
    s?.fire();
  }

  private kick(): void {
    if (!this.writing) void this.drain();
  }

  private async closeFile(): Promise<void> {
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
  }

  private async file(): Promise<FileHandle> {
    // A journal deleted (and perhaps created again) meanwhile: its folder's new log is not ours.
    if (this.closed) throw new Error(`producer log ${this.path} is closed`);
    if (!this.fh) {
      const fh = await open(this.path, constants.O_RDWR | constants.O_CREAT);
      if (this.closed) {
        // Closed while opening: the folder may hold another journal's log by now.
        await fh.close().catch(() => undefined);
        throw new Error(`producer log ${this.path} is closed`);
      }
      this.fh = fh;
      // Written at `size`: whatever a failed write left past it is cut first.
      await this.fh.truncate(this.size);
      if (!this.linked) {
        // A file just created is durable only once its folder is: an OS crash could drop it, lines and all.
        await fsyncDir(this.dir);
        this.linked = true;
      }
    }
    return this.fh;
  }

  /** Cuts the file at `to` durably. */
  private async cutFile(to: number): Promise<void> {
    const fh = await this.file();
    await fh.truncate(to);
    await fh.datasync();
    this.size = to;
  }

  private async drain(): Promise<void> {
    this.writing = true;
    while (this.cutTo !== undefined || this.queued.length > 0) {
      if (this.cutTo !== undefined || this.size >= COMPACT_BYTES) {
        let waiters: { resolve(): void; reject(e: unknown): void }[] = [];
        try {
          if (this.size >= COMPACT_BYTES) {
            // Only lines whose appends are settled are folded: wait for those in flight.
            while (this.open.size > 0) {
              this.settledSignal ??= signal();
              await this.settledSignal.promise;
            }
            await this.compact();
            this.cutTo = 0;
          }
          waiters = this.cutWaiters.splice(0);
          // A line past the size went with an earlier cut.
          const to = Math.min(this.cutTo!, this.size);
          this.cutTo = undefined;
          // The file is reopened and cut here again at the next write if this fails.
          this.size = to;
          await this.cutFile(to);
          for (const w of waiters) w.resolve();
        } catch (err) {
          // The journal refuses appends once a cut failed (see cancel), and a restart cuts by its head.
          this.cutTo = undefined;
          await this.closeFile();
          for (const w of [...waiters, ...this.cutWaiters.splice(0)]) w.reject(err);
          for (const e of this.queued.splice(0)) {
            e.settled = true;
            e.reject(err);
          }
        }
        continue;
      }
      const entries = this.queued;
      this.queued = [];
      // Positioned before the file is opened: a line taken from the queue is cancelled by a cut
      // from then on (`size` moves only here).
      const texts = entries.map((e) => JSON.stringify(e.line) + '\n');
      const bytes = Buffer.from(texts.join(''));
      let pos = this.size;
      for (let i = 0; i < entries.length; i++) {
        entries[i]!.pos = pos;
        pos += Buffer.byteLength(texts[i]!);
      }
      for (const e of entries) if (!e.settled) this.open.add(e);
      try {
        const fh = await this.file();
        // A crash here leaves appends written (as good as durable: a process's death loses no page) without their lines.
        crashPoint('producers.write');
        // A few lines: copied to the page cache on this thread (see INLINE_IO in spool.ts); the fdatasync goes to the pool.
        for (let at = 0; at < bytes.length; ) at += writeSync(fh.fd, bytes, at, bytes.length - at, this.size + at);
        this.size += bytes.length;
        await fh.datasync();
        // A crash here leaves lines fsync'd whose appends' bytes may not be.
        crashPoint('producers.synced');
        for (const e of entries) {
          e.synced = true;
          if (e.confirmed) apply(this.durable, e.line);
          e.resolve();
        }
      } catch (err) {
        // Whether any of these lines landed is unknown: their appends are not acknowledged, and
        // the file is reopened and cut back before the next write.
        this.size = entries[0]!.pos;
        await this.closeFile();
        for (const e of entries) {
          this.settle(e);
          e.reject(err);
        }
      }
    }
    this.writing = false;
  }
}

function apply(durable: Map<string, ProducerState>, line: Line): void {
  const { id, ...state } = line;
  const prev = durable.get(id);
  if (prev && (state.epoch < prev.epoch || (state.epoch === prev.epoch && state.lastSeq <= prev.lastSeq))) return;
  durable.set(id, state);
}
