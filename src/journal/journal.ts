import { readdirSync } from 'node:fs';
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InletError } from '../errors.js';
import { signal, type Signal } from './deferred.js';
import { FAILED_FILE, journalFailed, readFailure, recordFailure } from './failure.js';
import { fsyncDir } from './fsutil.js';
import { UNCAPPED, type OpenFiles } from './open-files.js';
import { parseSpoolFileName, Spool } from './spool.js';
import type { JournalSpec } from './spec.js';

/** One append: its bytes, and checks run in commit order just before it is written. */
export interface AppendRequest {
  readonly chunks: Buffer[];
  readonly length: number;
  /** Fails with WRONG_APPEND_OFFSET unless the append would begin here (checked after `precondition`, undone by `onFail`). */
  readonly expectOffset?: number;
  /**
   * Runs in commit order with the offset the append would begin at. Throwing rejects this
   * append alone; returning a result acknowledges it without writing (e.g. a duplicate).
   */
  readonly precondition?: (head: number) => AppendResult | void;
  /** Runs once the append's bytes are written, not yet durable, in commit order: what is to become durable with them can start now. */
  readonly onWritten?: (result: AppendResult) => void;
  /** Runs once the append is durable, still in commit order. */
  readonly onCommit?: (result: AppendResult) => void;
  /**
   * Runs if the append passed its precondition but its batch failed to commit (undo). A promise
   * returned holds back every later batch until it settles; rejected, the journal refuses every
   * append after with its error (what the undo was to keep from disk may be there).
   */
  readonly onFail?: () => void | Promise<void>;
}

export interface AppendResult {
  readonly begin: number;
  readonly end: number;
  /** True when a precondition acknowledged the append without writing it. */
  readonly duplicate?: boolean;
}

/** Observes a journal: commits (for metrics) and sealed spools (to persist them). */
export interface JournalObserver {
  onCommit?(journal: string, appends: number, bytes: number, syncSeconds: number): void;
  onSeal?(journal: Journal, spool: Spool): void;
}

/** The most bytes one batch takes from the queue (one append may be larger, up to 4 GiB). */
const MAX_BATCH = 256 << 20;

interface Pending {
  req: AppendRequest;
  resolve(r: AppendResult): void;
  reject(e: unknown): void;
}

/** A batch past its preconditions, written (or being written) and not yet acknowledged. */
interface Batch {
  readonly accepted: { p: Pending; result: AppendResult }[];
  readonly length: number;
  /** Set once its bytes are durable (at once for a batch of no bytes). */
  durable: boolean;
  /** Set once it failed: its appends were undone and rejected. */
  failed: boolean;
  /** performance.now() when its write began, for the observer. */
  readonly started: number;
}

/**
 * A named, append-only byte log on local disk, as a sequence of spools.
 *
 * Appends queue and commit in batches (pipelined group commit): everything queued while one
 * batch is being written goes into the next, and the next is written while the previous one's
 * fsync is still in flight (see Spool for the invariants), so concurrent appenders share fsyncs
 * and the disk never waits for the event loop. Batches are acknowledged in order, each once its
 * own bytes are durable; a batch of no bytes (only duplicates) once every batch before it is.
 * When a batch fails to become durable, it and every batch written behind it fail, undone
 * newest first. An append's bytes land contiguously, or not at all; readers see only
 * committed bytes, and the head is only ever the end of durable bytes.
 */
export class Journal {
  private readonly queue: Pending[] = [];
  /** Batches written or being written and not yet acknowledged or failed, oldest first. */
  private readonly inflight: Batch[] = [];
  private committing = false;
  private scheduled = false;
  private changed: Signal = signal();
  private idle: Signal | null = null;
  private gone = false;
  private sealWaiters: ((s: Spool | undefined) => void)[] = [];
  /** The undoing of failed appends that later batches wait for (see AppendRequest.onFail). */
  private undoing: Promise<void> | undefined;

  private constructor(
    public spec: JournalSpec,
    readonly dir: string,
    private readonly spools: Spool[],
    /** Where the journal's bytes begin when no spool holds them (persisted history, or a fork point). */
    private base: number,
    private readonly observer: JournalObserver | undefined,
    private readonly files: OpenFiles,
    /** Bytes recovery cut from the newest spool: an append in flight at a crash, never acknowledged. */
    readonly unacknowledgedCut?: { readonly begin: number; readonly end: number },
  ) {}

  /**
   * Opens (recovering after a crash) or creates the journal's spools in `dir`.
   * Throws JOURNAL_FAILED, recorded durably in `dir`, when a spool is damaged (it is moved
   * aside whole) or the spools leave a gap; the error names the offsets that are not served.
   * Other errors while recovering also throw JOURNAL_FAILED, without recording it.
   */
  static async open(spec: JournalSpec, dir: string, observer?: JournalObserver, begin = 0, files: OpenFiles = UNCAPPED()): Promise<Journal> {
    // Synchronous, as spool recovery is: see Spool.recover.
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true });
      entries = [];
    }
    const prior = entries.includes(FAILED_FILE) ? await readFailure(dir) : undefined;
    if (prior) throw prior;
    const begins = entries
      .map(parseSpoolFileName)
      .filter((b): b is number => b !== null)
      .sort((a, b) => a - b);
    const spools: Spool[] = [];
    let cut: { begin: number; end: number } | undefined;
    try {
      for (const b of begins) {
        const prev = spools.at(-1);
        if (prev && b !== prev.end) {
          throw new InletError('JOURNAL_FAILED', `offsets [${prev.end}, ${b}) are missing: no spool holds them (the spool at ${b} does not follow the one ending at ${prev.end})`, {
            details: { verifiedEnd: prev.end, claimedEnd: b },
          });
        }
        const recovered = await Spool.recover(dir, b, files);
        spools.push(recovered.spool);
        if (recovered.cut > 0) cut = { begin: recovered.spool.end, end: recovered.spool.end + recovered.cut };
      }
    } catch (err) {
      await Promise.all(spools.map((s) => s.close()));
      // Damage is recorded so it outlives a restart; any other error (a permission, a
      // transient EMFILE) fails the journal for this run only.
      if (!(err instanceof InletError && err.code === 'JOURNAL_FAILED')) throw journalFailed(spec.name, `its spools could not be opened: ${(err as Error).message}`);
      const failed = journalFailed(spec.name, err.message, err.details);
      await recordFailure(dir, failed);
      throw failed;
    }
    // All but the newest spool were sealed before the restart; the newest takes appends again.
    for (const sp of spools.slice(0, -1)) sp.sealed = true;
    const last = spools.at(-1);
    if (last && last.length === 0 && spools.length > 1) {
      spools.pop();
      await last.remove();
    }
    return new Journal(spec, dir, spools, begin, observer, files, cut);
  }

  get name(): string {
    return this.spec.name;
  }

  /** The write head: the end of committed (durable) bytes. Appends in flight begin at or past it. */
  get head(): number {
    return Math.max(this.spools.at(-1)?.end ?? 0, this.base);
  }

  /** Where the next batch begins: past the batches in flight. */
  private get writeHead(): number {
    return Math.max(this.spools.at(-1)?.writeEnd ?? 0, this.base);
  }

  /** The first offset still held locally (the head when nothing is). */
  get localBegin(): number {
    return this.spools[0]?.begin ?? this.head;
  }

  /** Spools sealed and waiting to become fragments, oldest first. */
  get sealedSpools(): Spool[] {
    return this.spools.filter((s) => s.sealed);
  }

  /** True when spools hold the journal's bytes locally (after a restart: its head is where recovery found them to end). */
  get hasSpools(): boolean {
    return this.spools.length > 0;
  }

  /** The spool taking appends, if any. */
  get currentSpool(): Spool | undefined {
    const last = this.spools.at(-1);
    return last && !last.sealed ? last : undefined;
  }

  /**
   * Moves an empty journal's write head to `offset`, where its persisted history ends
   * (a broker starting over an existing store with an empty data dir).
   */
  resumeAt(offset: number): void {
    if (this.spools.some((s) => s.length > 0) || offset < this.head) {
      throw new InletError('INTERNAL', `journal ${this.name}: cannot resume at ${offset}, local spools reach ${this.head}`);
    }
    this.base = offset;
  }

  get deleted(): boolean {
    return this.gone;
  }

  /** Queues an append; resolves with its `[begin, end)` once durable. */
  append(req: AppendRequest): Promise<AppendResult> {
    if (this.gone) return Promise.reject(notFound(this.name));
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Starts the commit loop once this turn of the event loop is over, so that the appends of one
   * turn (requests read together, appenders woken by one acknowledgement) form one batch
   * rather than the first going alone.
   */
  private schedule(): void {
    if (this.committing || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.committing) void this.commitLoop();
    });
  }

  private async commitLoop(): Promise<void> {
    this.committing = true;
    try {
      for (;;) {
        // Sealing and rolling wait for the batches in flight: a spool is handed over to be
        // persisted only once every frame in it is durable.
        if (this.sealWaiters.length > 0 || this.mustRoll()) {
          await this.settled();
          this.sealIfAsked();
          if (this.mustRoll()) this.sealSpool(this.currentSpool!);
        }
        if (this.queue.length === 0 || this.gone) break;
        if (this.undoing) {
          const undoing = this.undoing;
          try {
            await undoing;
            if (this.undoing === undoing) this.undoing = undefined;
          } catch (err) {
            for (const p of this.queue.splice(0)) p.reject(err);
            continue;
          }
        }
        await this.commitBatch(this.takeBatch());
      }
    } finally {
      this.committing = false;
      this.maybeIdle();
    }
  }

  /** The queued appends the next batch takes: all of them, unless that is more than MAX_BATCH bytes (a frame's length is a u32). */
  private takeBatch(): Pending[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.req.length <= MAX_BATCH)) bytes += this.queue[n++]!.req.length;
    return this.queue.splice(0, n);
  }

  /** True when the current spool holds bytes and the queued appends would take it past the fragment length. */
  private mustRoll(): boolean {
    const current = this.currentSpool;
    if (!current || current.writeEnd === current.begin || this.queue.length === 0) return false;
    let queued = 0;
    for (const p of this.queue) queued += p.req.length;
    return queued > 0 && current.writeEnd - current.begin + queued > this.spec.fragment.length;
  }

  /** Resolves once no batch is in flight. */
  private async settled(): Promise<void> {
    while (this.inflight.length > 0) {
      this.idle ??= signal();
      await this.idle.promise;
    }
  }

  private maybeIdle(): void {
    if (this.inflight.length > 0) return;
    const idle = this.idle;
    this.idle = null;
    idle?.fire();
  }

  /**
   * Seals the current spool: it takes no more appends and is handed to the observer to be
   * persisted. Resolves with the sealed spool, or undefined when there was nothing to seal.
   * Sealing happens between group commits, never during one.
   */
  seal(): Promise<Spool | undefined> {
    return new Promise((resolve) => {
      this.sealWaiters.push(resolve);
      if (!this.committing) void this.commitLoop();
    });
  }

  private sealIfAsked(): void {
    if (this.sealWaiters.length === 0) return;
    const waiters = this.sealWaiters.splice(0);
    const current = this.currentSpool;
    const sealed = current && current.length > 0 ? this.sealSpool(current) : undefined;
    for (const w of waiters) w(sealed);
  }

  private sealSpool(spool: Spool): Spool {
    spool.sealed = true;
    this.observer?.onSeal?.(this, spool);
    return spool;
  }

  /**
   * Marks a sealed spool persisted: its fragment is in a store. Spools are forgotten strictly
   * oldest first, so the local spools always form one contiguous run up to the write head,
   * however the uploads finish. A forgotten spool's files are deleted after `graceMs`, so
   * reads already under way on it can finish.
   */
  release(spool: Spool, graceMs = 30_000): void {
    if (this.gone || !spool.sealed || !this.spools.includes(spool)) return;
    spool.persisted = true;
    while (this.spools[0]?.persisted) {
      const oldest = this.spools.shift()!;
      this.base = Math.max(this.base, oldest.end);
      const timer = setTimeout(() => {
        this.pendingRemovals.delete(entry);
        void oldest.remove();
      }, graceMs);
      timer.unref();
      const entry = { spool: oldest, timer };
      this.pendingRemovals.add(entry);
    }
  }

  private readonly pendingRemovals = new Set<{ spool: Spool; timer: NodeJS.Timeout }>();

  /**
   * Runs the preconditions of `pending` in order at the write head, writes the accepted bytes
   * as one batch, and returns once they are written: their acknowledgement follows once they
   * are durable, while the next batch is written.
   */
  private async commitBatch(pending: Pending[]): Promise<void> {
    const start = this.writeHead;
    let head = start;
    const accepted: { p: Pending; result: AppendResult }[] = [];
    const buffers: Buffer[] = [];
    for (const p of pending) {
      try {
        // A duplicate is recognised before the offset is checked: the retry of an append whose
        // answer was lost finds the head past the offset it expected, its own bytes in between.
        const dup = p.req.precondition?.(head);
        if (dup) {
          accepted.push({ p, result: { ...dup, duplicate: true } });
          continue;
        }
        if (p.req.expectOffset !== undefined && p.req.expectOffset !== head) {
          void p.req.onFail?.();
          throw new InletError(
            'WRONG_APPEND_OFFSET',
            `journal ${this.name}: append expected offset ${p.req.expectOffset} but the write head is ${head}`,
            { details: { writeHead: head } },
          );
        }
      } catch (err) {
        p.reject(err);
        continue;
      }
      accepted.push({ p, result: { begin: head, end: head + p.req.length } });
      buffers.push(...p.req.chunks);
      head += p.req.length;
    }
    if (accepted.length === 0) return;
    const length = head - start;
    const batch: Batch = { accepted, length, durable: length === 0, failed: false, started: performance.now() };
    this.inflight.push(batch);
    if (length === 0) {
      this.written(batch);
      this.acknowledge();
      return;
    }
    let durable: Promise<void>;
    try {
      const spool = await this.spoolFor();
      ({ durable } = await spool.write(buffers, length));
    } catch (err) {
      this.fail(batch, err);
      return;
    }
    if (batch.failed) return;
    this.written(batch);
    durable.then(
      () => {
        batch.durable = true;
        this.acknowledge();
      },
      (err: unknown) => this.fail(batch, err),
    );
  }

  private written(batch: Batch): void {
    for (const { p, result } of batch.accepted) if (!result.duplicate) p.req.onWritten?.(result);
  }

  /** Acknowledges the durable batches at the front of the pipeline, in order. */
  private acknowledge(): void {
    let bytes = false;
    while (this.inflight[0]?.durable) {
      const batch = this.inflight.shift()!;
      if (batch.length > 0) {
        bytes = true;
        this.observer?.onCommit?.(this.name, batch.accepted.length, batch.length, (performance.now() - batch.started) / 1000);
      }
      for (const { p, result } of batch.accepted) {
        if (!result.duplicate) p.req.onCommit?.(result);
        p.resolve(result);
      }
    }
    if (bytes) this.notify();
    this.maybeIdle();
  }

  /**
   * Fails `batch` and every batch written behind it: their preconditions' effects are undone
   * newest first, then their appends are rejected with `err`.
   */
  private fail(batch: Batch, err: unknown): void {
    const at = this.inflight.indexOf(batch);
    if (at < 0) return; // failed already, with an older batch
    const failed = this.inflight.splice(at);
    for (const b of failed) b.failed = true;
    const undone: Promise<void>[] = [];
    for (const b of [...failed].reverse()) {
      for (const { p } of [...b.accepted].reverse()) {
        const u = p.req.onFail?.();
        if (u) undone.push(u);
      }
    }
    if (undone.length > 0) {
      const all = Promise.all([this.undoing, ...undone]).then(() => undefined);
      all.catch(() => undefined);
      this.undoing = all;
    }
    for (const b of failed) for (const { p } of b.accepted) p.reject(err);
    this.maybeIdle();
  }

  /** The spool the next batch goes to: the current one (commitLoop rolled it when full), or a new one. */
  private async spoolFor(): Promise<Spool> {
    const current = this.currentSpool;
    if (current) return current;
    // Spools are created by their first append, so an idle journal holds no empty files.
    // Nothing is in flight here: a spool is sealed only once its batches settled.
    const next = await Spool.create(this.dir, this.writeHead, this.files);
    this.spools.push(next);
    return next;
  }

  /** Wakes everyone waiting for new bytes or a state change. */
  notify(): void {
    const fired = this.changed;
    this.changed = signal();
    fired.fire();
  }

  /** Resolves on the next commit or state change (deletion, closure). Costs nothing while idle. */
  nextChange(): Promise<void> {
    return this.changed.promise;
  }

  /** Reads committed bytes from `offset`, at most `max`, from the spool holding `offset`. */
  async read(offset: number, max: number): Promise<Buffer> {
    if (offset < this.localBegin || offset > this.head) {
      throw new InletError('INVALID_OFFSET', `journal ${this.name}: offset ${offset} is outside [${this.localBegin}, ${this.head}]`);
    }
    const spool = this.spoolAt(offset);
    return spool ? spool.read(offset, max) : Buffer.alloc(0);
  }

  private spoolAt(offset: number): Spool | undefined {
    // Spools are few; scan from the newest, where reads concentrate.
    for (let i = this.spools.length - 1; i >= 0; i--) {
      const s = this.spools[i]!;
      if (offset >= s.begin && (offset < s.end || i === this.spools.length - 1)) return s;
    }
    return undefined;
  }

  /** Resolves once every queued append has been committed or failed. */
  async drain(): Promise<void> {
    while (this.committing || this.scheduled || this.inflight.length > 0) {
      this.idle ??= signal();
      await this.idle.promise;
    }
  }

  async close(): Promise<void> {
    await this.drain();
    await Promise.all(this.spools.map((s) => s.close()));
    for (const r of this.pendingRemovals) {
      clearTimeout(r.timer);
      await r.spool.remove();
    }
    this.pendingRemovals.clear();
  }

  /** Deletes the journal and its local data; pending appends fail, waiters wake. */
  async remove(): Promise<void> {
    this.gone = true;
    for (const p of this.queue.splice(0)) p.reject(notFound(this.name));
    await this.drain();
    this.notify();
    // Timers of released spools must not outlive the journal: a journal re-created under this
    // name would have its new spools deleted by them.
    for (const r of this.pendingRemovals) clearTimeout(r.timer);
    this.pendingRemovals.clear();
    await Promise.all(this.spools.map((s) => s.close()));
    await removeOwnFiles(this.dir);
  }
}

export function notFound(name: string): InletError {
  return new InletError('JOURNAL_NOT_FOUND', `journal ${name} does not exist`);
}

/**
 * Removes a journal's own files (`@…`), keeping the folders of journals named below it.
 * The record goes first, so a crash midway leaves files that no journal claims.
 */
export async function removeOwnFiles(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  if (entries.includes('@journal.json')) {
    await rm(join(dir, '@journal.json'));
    await fsyncDir(dir);
  }
  await Promise.all(entries.filter((f) => f.startsWith('@')).map((f) => rm(join(dir, f), { force: true })));
  await rmdir(dir).catch(() => undefined);
}
