import { rm } from 'node:fs/promises';
import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import type { Journal } from '../journal/journal.js';
import type { Spool } from '../journal/spool.js';
import type { CompressJob, CompressResult } from './compress-worker.js';
import type { Fragment } from './fragment-index.js';
import { CODEC_EXT, fragmentKey, renderPostfix } from './naming.js';
import { openStore } from './stores/index.js';
import { retry } from '../retry.js';

export interface PersistObserver {
  /** A fragment is confirmed in its store; the spool may go. */
  onPersisted(journal: Journal, spool: Spool, fragment: Fragment, stats: { compressMs: number; uploadMs: number }): void;
  onRetry(journal: Journal, error: unknown, attempt: number, delayMs: number): void;
}

interface Job {
  journal: Journal;
  spool: Spool;
}

/**
 * Turns sealed spools into fragments: compresses and hashes them on a worker thread, uploads
 * them to the journal's first store, and only then lets the spool go. Failed uploads retry
 * forever with exponential backoff and full jitter; meanwhile the spool stays on local disk
 * (counted in `backlogBytes`). Nothing here runs on the append path.
 */
export class Persister {
  private readonly queue: Job[] = [];
  private readonly queued = new Set<Spool>();
  private running = 0;
  private stopped = false;
  private backlog = 0;
  /** Compression and hashing run on this pool's thread, never on the event loop. */
  private readonly workers: Piscina<CompressJob, CompressResult>;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly observer: PersistObserver,
    private readonly log: Logger,
    private readonly concurrency = 2,
  ) {
    // One thread: compression shares the machine with appends. A thread that dies (out of
    // memory, say) fails its job, which the persister retries, and the pool replaces it.
    this.workers = new Piscina({ filename: new URL('./compress-worker.js', import.meta.url).href, minThreads: 1, maxThreads: 1 });
  }

  /** Bytes of sealed spools not yet confirmed in a store. */
  get backlogBytes(): number {
    return this.backlog;
  }

  get pending(): number {
    return this.queue.length + this.running;
  }

  enqueue(journal: Journal, spool: Spool): void {
    if (this.queued.has(spool) || this.stopped) return;
    this.queued.add(spool);
    this.backlog += spool.length;
    this.queue.push({ journal, spool });
    this.pump();
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0 && !this.stopped) {
      const job = this.queue.shift()!;
      this.running++;
      void this.persist(job).finally(() => {
        this.running--;
        this.queued.delete(job.spool);
        this.backlog -= job.spool.length;
        if (this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
        this.pump();
      });
    }
  }

  private async persist({ journal, spool }: Job): Promise<void> {
    const spec = journal.spec;
    const store = openStore(spec.fragment.stores[0]!);
    const tmp = `${spool.path}.${CODEC_EXT[spec.fragment.codec]}.tmp`;
    const gone = () => this.stopped || journal.deleted;
    const attempt = async (): Promise<void> => {
      if (gone()) return;
      const t0 = performance.now();
      const job: CompressJob = { spool: spool.path, length: spool.length, codec: spec.fragment.codec, out: tmp };
      const { sha1, compressedSize } = await this.workers.run(job).catch((err: unknown) => {
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
      // After a restart the fragment may already be there: content-addressed, so equal.
      if (!(await store.exists(key))) await store.put(key, tmp);
      const t2 = performance.now();
      await rm(tmp, { force: true });
      const fragment: Fragment = { ...name, store: store.url, key, size: compressedSize, modified: new Date() };
      this.observer.onPersisted(journal, spool, fragment, { compressMs: t1 - t0, uploadMs: t2 - t1 });
    };
    await retry(
      () =>
        attempt().catch(async (err: unknown) => {
          await rm(tmp, { force: true }).catch(() => undefined);
          throw err;
        }),
      {
        retryable: () => !gone(),
        onRetry: (err, n, delay) => this.observer.onRetry(journal, err, n, delay),
      },
    ).catch(() => {
      // Stopped or deleted while retrying: the spool stays on disk for the next start, or goes with its journal.
    });
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
    await this.workers.destroy();
    this.log.debug('persister stopped');
  }
}
