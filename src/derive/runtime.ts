import { join } from 'node:path';
import type { Catalog, CollectionSpec } from '../catalog/types.js';
import type { BrokerClient } from '../client/broker-client.js';
import type { JournalWriter } from '../client/journal-writer.js';
import { compileCatalog, type Collection } from '../collections/collection.js';
import { collectionHeads, lagBytes, lagMs } from '../collections/partitions.js';
import type { ReadCheckpoint } from '../collections/reader.js';
import { runConsumer } from '../consumer/driver.js';
import { InletError } from '../errors.js';
import { DerivationApp } from './engine.js';
import { RemoteLambdas, WorkerLambdas, type Lambdas } from './lambdas.js';
import { typeName } from './names.js';
import type { SnapshotLog, SnapshotOptions } from './snapshots.js';
import { RegisterStore } from './store.js';

/** A derivation's first transaction, and the first after its input stalled, takes at most this many documents (see runConsumer). */
const FIRST_TXN_DOCS = 256;
/** …and no transaction more than this many (see `maxTxnDocs`). */
const MAX_TXN_DOCS = 8192;

/** Where a derivation stands, as `GET /v1/derivations` and `inlet derivations status` show it. */
export interface DerivationStatus {
  name: string;
  /** backfilling until every source was once read through, then live; failed after an error (until restarted). */
  state: 'backfilling' | 'live' | 'failed' | 'stopped';
  read: number;
  published: number;
  /** Per source collection: bytes not yet committed as read (sum over its journals), and the age of the last transaction read while behind (see lagMs). */
  sources: Record<string, { lagBytes: number; lagSeconds: number }>;
  lastError?: string;
}

export interface DerivationRuntimeOptions {
  catalog: Catalog;
  client: BrokerClient;
  writer: JournalWriter;
  /** The ESM bundle of the catalog's TypeScript lambdas (`buildModules`), when any lambda is typescript. */
  module?: string;
  /** Registers live under `<dataDir>/derive/`. */
  dataDir: string;
  signal?: AbortSignal;
  /** A lambda batch running longer fails its derivation. Default 30 s. */
  lambdaTimeoutMs?: number;
  /** Source documents per lambda batch. Default 1000. */
  batchSize?: number;
  /** Consumer transaction bounds (see runConsumer). */
  stallMs?: number;
  maxTxnMs?: number;
  /** Source documents per transaction at most. Default 8192. */
  maxTxnDocs?: number;
  /** When registers are snapshotted to the lake (see snapshots.ts). */
  snapshots?: SnapshotOptions;
  /** Progress lines (snapshots written, where recovery started). */
  log?: SnapshotLog;
  /** Stores whose fragments the sources' readers open themselves: history straight from the lake (see ReaderOptions.stores). */
  stores?: readonly string[];
}

interface Running {
  name: string;
  app: DerivationApp;
  store: RegisterStore;
  lambdas: Lambdas;
  /** Committed read progress per source collection, per journal. */
  progress: Record<string, ReadCheckpoint>;
  /** Last known write heads per source journal (from settled() and status polls). */
  heads: Record<string, Record<string, number>>;
  caughtUpAt: Record<string, number>;
  state: DerivationStatus['state'];
  error?: unknown;
  done: Promise<void>;
  waiters: Set<() => void>;
}

/**
 * Runs every derivation of a catalog, each as a consumer (runConsumer) of its sources, with its
 * registers in a RegisterStore and its lambdas in a worker thread (or remote). A derivation that
 * fails stops alone, with its error in its status; the others keep running.
 */
export class DerivationRuntime {
  private readonly abort = new AbortController();

  private constructor(
    private readonly opts: DerivationRuntimeOptions,
    private readonly running: Running[],
  ) {}

  static async start(opts: DerivationRuntimeOptions): Promise<DerivationRuntime> {
    const collections = compileCatalog(opts.catalog);
    const derivations = [...opts.catalog.collections.values()].filter((c) => c.derivation).sort((a, b) => (a.name < b.name ? -1 : 1));
    const running: Running[] = [];
    const runtime = new DerivationRuntime(opts, running);
    const signal = opts.signal ? AbortSignal.any([opts.signal, runtime.abort.signal]) : runtime.abort.signal;
    for (const spec of derivations) {
      const lambdas = lambdasOf(spec, opts);
      const store = await RegisterStore.open(join(opts.dataDir, 'derive', `${spec.name.replaceAll('/', '%2F')}.sqlite`), {
        client: opts.client,
        writer: opts.writer,
        journal: `recovery/derive/${spec.name}`,
        ...(opts.snapshots ? { snapshots: opts.snapshots } : {}),
        ...(opts.log ? { logger: (fields: Record<string, unknown>, msg: string) => opts.log!({ derivation: spec.name, ...fields }, msg) } : {}),
      });
      const app = new DerivationApp(spec.name, collections, store, lambdas, opts.batchSize);
      const r: Running = {
        name: spec.name,
        app,
        store,
        lambdas,
        progress: {},
        heads: {},
        caughtUpAt: {},
        state: 'backfilling',
        done: Promise.resolve(),
        waiters: new Set(),
      };
      running.push(r);
    }
    for (const r of running) r.done = runtime.run(r, collections, signal);
    return runtime;
  }

  private async run(r: Running, collections: Map<string, Collection>, signal: AbortSignal): Promise<void> {
    try {
      await runConsumer({
        name: `derive/${r.name}`,
        client: this.opts.client,
        writer: this.opts.writer,
        collections,
        sources: r.app.sources,
        store: r.store,
        app: r.app,
        signal,
        // Live, a transaction waits this long for more input before it commits: short, for latency.
        stallMs: this.opts.stallMs ?? 5,
        // Backfilling, transactions grow from this (small, so that the first commits come soon); live ones stay small.
        firstTxnDocs: FIRST_TXN_DOCS,
        // A bound on what one transaction holds in memory (its source documents on their way, the
        // documents it publishes): a backfill's transactions of a second held ~50k documents, which
        // outlived the young generation and made GC a quarter of the main thread's time.
        maxTxnDocs: this.opts.maxTxnDocs ?? MAX_TXN_DOCS,
        ...(this.opts.maxTxnMs !== undefined ? { maxTxnMs: this.opts.maxTxnMs } : {}),
        ...(this.opts.stores ? { stores: this.opts.stores } : {}),
        onProgress: (sources) => {
          r.progress = sources;
          for (const w of r.waiters) w();
        },
      });
      if (r.state !== 'failed') r.state = 'stopped';
    } catch (err) {
      if (signal.aborted) {
        r.state = 'stopped';
      } else {
        r.state = 'failed';
        r.error = err;
      }
    } finally {
      await r.lambdas.close().catch(() => undefined);
      for (const w of r.waiters) w();
    }
  }

  /**
   * Resolves once every derivation has committed (store and ACKs) everything its sources held
   * when called, derivations of derivations included: the write heads of every source journal
   * are taken, each derivation's committed read positions must reach them, and this repeats
   * until no head moved meanwhile. Rejects when a derivation fails (or has failed).
   * `names` narrows it to those derivations.
   */
  async settled(names?: readonly string[]): Promise<void> {
    const running = names ? this.running.filter((r) => names.includes(r.name)) : this.running;
    let last = '';
    for (;;) {
      const all: Record<string, Record<string, number>> = {};
      for (const r of running) {
        for (const source of r.app.sources) all[source] ??= await this.heads(source);
      }
      for (const r of running) for (const source of r.app.sources) r.heads[source] = all[source]!;
      const seen = JSON.stringify(all);
      if (seen === last) return;
      last = seen;
      await Promise.all(running.map((r) => this.reach(r, all)));
    }
  }

  private heads(collection: string): Promise<Record<string, number>> {
    return collectionHeads(this.opts.client, collection);
  }

  /** Resolves when `r`'s committed progress reaches `heads` for its sources; rejects if it fails. */
  private reach(r: Running, heads: Record<string, Record<string, number>>): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (r.state === 'failed') {
          r.waiters.delete(check);
          reject(r.error instanceof Error ? r.error : new InletError('DERIVATION_FAILED', String(r.error)));
          return;
        }
        const behind = r.app.sources.some((source) =>
          Object.entries(heads[source] ?? {}).some(([journal, head]) => head > 0 && (r.progress[source]?.[journal]?.readThrough ?? 0) < head),
        );
        if (!behind) {
          r.waiters.delete(check);
          resolve();
        } else if (r.state === 'stopped') {
          r.waiters.delete(check);
          reject(new InletError('SHUTTING_DOWN', `derivation ${r.name} stopped before it settled`));
        }
      };
      r.waiters.add(check);
      check();
    });
  }

  /** Each derivation's state and counters; lag from the last heads seen (`refreshStatus` updates them). */
  status(): DerivationStatus[] {
    const now = Date.now();
    return this.running.map((r) => {
      const sources: DerivationStatus['sources'] = {};
      for (const source of r.app.sources) {
        const lag = lagBytes(r.heads[source] ?? {}, (journal) => r.progress[source]?.[journal]?.readThrough);
        if (lag === 0) r.caughtUpAt[source] = now;
        sources[source] = { lagBytes: lag, lagSeconds: lag === 0 ? 0 : lagMs(r.heads[source] ?? {}, r.progress[source] ?? {}, now, r.caughtUpAt[source] ?? now) / 1000 };
      }
      if (r.state === 'backfilling' && Object.keys(r.heads).length > 0 && Object.values(sources).every((s) => s.lagBytes === 0)) r.state = 'live';
      return {
        name: r.name,
        state: r.state,
        read: r.app.counters.read,
        published: r.app.counters.published,
        sources,
        ...(r.error !== undefined ? { lastError: r.error instanceof Error ? r.error.message : String(r.error) } : {}),
      };
    });
  }

  /** Fetches the write heads of every source, then returns `status()`. */
  async refreshStatus(): Promise<DerivationStatus[]> {
    for (const r of this.running) {
      for (const source of r.app.sources) r.heads[source] = await this.heads(source);
    }
    return this.status();
  }

  /** Stops every derivation (open transactions are abandoned, read again at restart) and closes their stores. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.running.map((r) => r.done));
    await Promise.all(this.running.map((r) => r.store.settleSnapshots()));
    for (const r of this.running) r.store.close();
  }
}

/** The lambdas of a derivation: typescript ones in a worker over `opts.module`, remote ones over HTTP. */
function lambdasOf(spec: CollectionSpec, opts: DerivationRuntimeOptions): Lambdas {
  const d = spec.derivation!;
  const timeout = opts.lambdaTimeoutMs ?? 30_000;
  const remote: Record<string, string> = {};
  let typescript = false;
  for (const t of d.transforms) {
    for (const [kind, l] of [['Update', t.update], ['Publish', t.publish]] as const) {
      if (!l) continue;
      if ('remote' in l) remote[`${t.name}${kind}`] = l.remote;
      else typescript = true;
    }
  }
  if (typescript && !opts.module) throw new InletError('INVALID_CATALOG', `derivation ${spec.name} (${spec.source}) has typescript lambdas, and no module was built`);
  // The documents are published in the worker when every publish lambda runs there: one
  // combiner must see all of a transaction's documents.
  const publishHere = d.transforms.some((t) => t.publish && 'remote' in t.publish);
  const worker = typescript ? new WorkerLambdas(opts.module!, typeName(spec.name), timeout, publishHere ? undefined : spec) : undefined;
  const http = new RemoteLambdas(remote, timeout);
  return {
    output: worker?.output,
    call: (transform, kind, args) => (remote[`${transform}${kind}`] ? http.call(transform, kind, args) : worker!.call(transform, kind, args)),
    close: async () => {
      await worker?.close();
    },
  };
}
