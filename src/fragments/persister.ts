import { rm } from 'node:fs/promises';
import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import type { Journal } from '../journal/journal.js';
import type { Spool } from '../journal/spool.js';
import type { CompressJob, CompressResult } from './compress-worker.js';
import type { Fragment } from './fragment-index.js';
import { CODEC_EXT, fragmentKey } from './naming.js';
import { renderPostfix } from '../protocol/postfix.js';
import { backoff } from '../retry.js';
import type { FragmentStore } from './stores/types.js';

export interface PersistObserver {
  /** A fragment is confirmed in its store; the spool may go. */
  onPersisted(journal: Journal, spool: Spool, fragment: Fragment, stats: { compressMs: number; uploadMs: number }): void;
  onRetry(journal: Journal, error: unknown, attempt: number, delayMs: number): void;
}

interface Job {
  journal: Journal;
  spool: Spool;
  /** The store URL it uploads to: the journal's first store when it was enqueued. */
  store: string;
  attempt: number;
  error?: unknown;
}

/**
 * Turns sealed spools into fragments: compresses and hashes them on a worker thread, uploads
 * them to the journal's first store, confirms the store holds them (size and MD5), and only
 * then lets the spool go. Failed uploads retry forever with exponential backoff and full
 * jitter; meanwhile the spool stays on local disk (counted in `backlogBytes` of its store).
 *
 * Each store has its own `concurrency` upload slots, and a job waiting out its backoff holds
 * none: a store that fails delays only the journals that write to it (regression: two journals
 * on a dead store held both slots for good, and every journal's backlog grew to STORE_BACKLOG).
 * Nothing here runs on the append path.
 */
export class Persister {
  private readonly queue: Job[] = [];
  private readonly queued = new Set<Spool>();
  private readonly running = new Map<string, number>();
  private readonly backlogs = new Map<string, number>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private stopped = false;
  /** Compression and hashing run on this pool's thread, never on the event loop. */
  private readonly workers: Piscina<CompressJob, CompressResult>;
  private idleWaiters: (() => void)[] = [];

  /** `stores` opens a store by URL, throwing for one the broker may not use. */
  constructor(
    private readonly stores: (url: string) => FragmentStore,
    private readonly observer: PersistObserver,
    private readonly log: Logger,
    private readonly concurrency = 2,
  ) {
    // One thread: compression shares the machine with appends. A thread that dies (out of
    // memory, say) fails its job, which the persister retries, and the pool replaces it.
    this.workers = new Piscina({ filename: new URL('./compress-worker.js', import.meta.url).href, minThreads: 1, maxThreads: 1 });
  }

  /** Bytes of sealed spools not yet confirmed in any store. */
  get backlogBytes(): number {
    let sum = 0;
    for (const b of this.backlogs.values()) sum += b;
    return sum;
  }

  /** Bytes of sealed spools not yet confirmed in the store at `url`. */
  backlogOf(url: string): number {
    return this.backlogs.get(url) ?? 0;
  }

  get pending(): number {
    return this.queued.size;
  }

  enqueue(journal: Journal, spool: Spool): void {
    if (this.queued.has(spool) || this.stopped) return;
    const store = journal.spec.fragment.stores[0]!;
    this.queued.add(spool);
    this.backlogs.set(store, this.backlogOf(store) + spool.length);
    this.queue.push({ journal, spool, store, attempt: 0 });
    this.pump();
  }

  private pump(): void {
    for (let i = 0; i < this.queue.length && !this.stopped; ) {
      const job = this.queue[i]!;
      const busy = this.running.get(job.store) ?? 0;
      if (busy >= this.concurrency) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.running.set(job.store, busy + 1);
      void this.attempt(job).then((done) => {
        this.running.set(job.store, this.running.get(job.store)! - 1);
        if (done) this.settle(job);
        else this.retryLater(job);
        this.pump();
      });
    }
  }

  /** The job is over (persisted, or its journal deleted): the spool leaves the backlog. */
  private settle(job: Job): void {
    this.queued.delete(job.spool);
    this.backlogs.set(job.store, this.backlogOf(job.store) - job.spool.length);
    if (this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private retryLater(job: Job): void {
    if (this.stopped) return;
    const delay = backoff(job.attempt);
    this.observer.onRetry(job.journal, job.error, job.attempt, delay);
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.queue.push(job);
      this.pump();
    }, delay);
    this.retryTimers.add(timer);
  }

  /** One upload attempt; true when the job is over, false when it must be retried. */
  private async attempt(job: Job): Promise<boolean> {
    const { journal, spool } = job;
    if (this.stopped || journal.deleted) return true;
    const spec = journal.spec;
    const tmp = `${spool.path}.${CODEC_EXT[spec.fragment.codec]}.tmp`;
    job.attempt++;
    try {
      const store = this.stores(job.store);
      const t0 = performance.now();
      const work: CompressJob = { spool: spool.path, length: spool.length, codec: spec.fragment.codec, out: tmp };
      const { sha1, compressedSize, compressedMd5 } = await this.workers.run(work).catch((err: unknown) => {
        throw new Error(`compressing a spool: ${(err as Error).message}`, { cause: err });
      });
      const t1 = performance.now();
      const name = {
        journal: journal.name,
        postfix: renderPostfix(spec.fragment.pathPostfixTemplate, new Date(spool.firstAppendAt ?? Date.now())),
        begin: spool.begin,
        end: spool.end,
        sha1,
        codec: spec.fragment.codec,
      };
      const key = fragmentKey(name);
      const check = { size: compressedSize, md5: compressedMd5 };
      // Content-addressed, so uploading again after a restart rewrites the same object.
      await store.put(key, tmp, check);
      if (!(await store.confirm(key, check))) {
        throw new Error(`the store does not hold ${store.location(key)} as uploaded (${compressedSize} bytes, MD5 ${compressedMd5})`);
      }
      const t2 = performance.now();
      await rm(tmp, { force: true });
      const fragment: Fragment = { ...name, store: store.url, key, size: compressedSize, modified: new Date() };
      this.observer.onPersisted(journal, spool, fragment, { compressMs: t1 - t0, uploadMs: t2 - t1 });
      return true;
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      job.error = err;
      return this.stopped || journal.deleted;
    }
  }

  /** Resolves true once nothing is queued or uploading, false if `timeoutMs` passes first. */
  async idle(timeoutMs: number): Promise<boolean> {
    if (this.pending === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      new Promise<boolean>((r) => this.idleWaiters.push(() => r(true))),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return done;
  }

  /** Stops retrying and ends the worker; unpersisted spools stay on disk for the next start. */
  async close(): Promise<void> {
    this.stopped = true;
    this.queue.length = 0;
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    await this.workers.destroy();
    this.log.debug('persister stopped');
  }
}
