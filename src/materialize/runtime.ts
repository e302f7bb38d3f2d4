import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Catalog, EndpointSpec, MaterializationSpec } from '../catalog/types.js';
import type { BrokerClient } from '../client/broker-client.js';
import type { JournalWriter } from '../client/journal-writer.js';
import { compileCatalog, type Collection } from '../collections/collection.js';
import { collectionHeads, lagBytes } from '../collections/partitions.js';
import { runConsumer } from '../consumer/driver.js';
import type { ConsumerCheckpoint } from '../consumer/types.js';
import { InletError } from '../errors.js';
import { backoff } from '../retry.js';
import type { Driver } from './driver.js';
import { PostgresDriver } from './postgres.js';
import { SqliteDriver } from './sqlite.js';
import { MaterializationStore, type Committed } from './store.js';
import { tablePlan } from './table.js';

/** How a materialization is doing, as `inlet materializations status` and `GET /v1/materializations` show it. */
export interface MaterializationStatus {
  /** `<endpoint>/<table>`. */
  name: string;
  source: string;
  endpoint: string;
  table: string;
  /** starting → running; retrying after a failure it may recover from; failed (fenced, incompatible table) or stopped for good. */
  state: 'starting' | 'running' | 'retrying' | 'failed' | 'stopped';
  /** Rows written (upserted or, with delta updates, inserted) by this process. */
  rowsWritten: number;
  transactions: number;
  /** ISO time of the last commit by this process. */
  lastCommit?: string;
  /** Milliseconds from the first document of the last transaction to its commit. */
  lastCommitLatencyMs?: number;
  lastError?: string;
  /** Per source journal: the offset read through as of the last commit (or the restored checkpoint). */
  readThrough: Record<string, number>;
}

/** Errors no retry can fix: the materialization stops. */
const FATAL = new Set(['MATERIALIZATION_FENCED', 'TABLE_INCOMPATIBLE', 'INVALID_SCHEMA', 'REDUCE_FAILED', 'INVALID_CATALOG']);

/** The driver of a materialization's endpoint. */
export function driverFor(spec: MaterializationSpec, endpoint: EndpointSpec): Driver {
  if ('postgres' in endpoint) return new PostgresDriver(endpoint.postgres, tablePlan(spec, 'postgres'), spec.name);
  return new SqliteDriver(endpoint.sqlite.path, tablePlan(spec, 'sqlite'), spec.name);
}

export interface MaterializationRuntimeOptions {
  catalog: Catalog;
  client: BrokerClient;
  writer: JournalWriter;
  signal?: AbortSignal;
  /** Where the metrics go (the broker's registry, so they show in its `/metrics`). */
  registry?: Registry;
  /** Transaction bounds of the consumers (see ConsumerOptions). */
  stallMs?: number;
  maxTxnMs?: number;
  /** Stores whose fragments the readers open themselves: history straight from the lake (see ReaderOptions.stores). */
  stores?: readonly string[];
}

/**
 * Runs every materialization of a catalog, each as a consumer of its source collection into
 * its endpoint, independently: one whose database is down or refuses a write stops with the
 * error in its status and starts again after a backoff (the repo's retry policy), from its
 * checkpoint in the database. A fenced one, or one whose table is incompatible, stays failed.
 */
export class MaterializationRuntime {
  private readonly abort = new AbortController();
  private readonly states: MaterializationStatus[] = [];
  private readonly loops: Promise<void>[] = [];
  /** Called after each commit and state change; `settled` waits on them. */
  private readonly listeners = new Set<() => void>();
  private readonly metrics;

  private constructor(private readonly opts: MaterializationRuntimeOptions) {
    const registers = opts.registry ? [opts.registry] : [];
    this.metrics = {
      rows: new Counter({ name: 'inlet_materialization_rows_total', help: 'Rows written by materializations.', labelNames: ['materialization'], registers }),
      txns: new Counter({ name: 'inlet_materialization_transactions_total', help: 'Transactions committed by materializations.', labelNames: ['materialization'], registers }),
      errors: new Counter({ name: 'inlet_materialization_errors_total', help: 'Failures of materializations, by error code.', labelNames: ['materialization', 'code'], registers }),
      up: new Gauge({ name: 'inlet_materialization_running', help: '1 while a materialization is running, 0 while it retries or has failed.', labelNames: ['materialization'], registers }),
      latency: new Gauge({ name: 'inlet_materialization_commit_latency_seconds', help: 'From the first document of the last transaction to its commit.', labelNames: ['materialization'], registers }),
    };
  }

  /** Starts every materialization of `catalog`; resolves at once (each opens its database in the background). */
  static async start(opts: MaterializationRuntimeOptions): Promise<MaterializationRuntime> {
    const rt = new MaterializationRuntime(opts);
    opts.signal?.addEventListener('abort', () => rt.abort.abort(), { once: true });
    const collections = compileCatalog(opts.catalog);
    for (const spec of opts.catalog.materializations) {
      const status: MaterializationStatus = { name: spec.name, source: spec.reads.name, endpoint: spec.endpoint, table: spec.table, state: 'starting', rowsWritten: 0, transactions: 0, readThrough: {} };
      rt.states.push(status);
      rt.loops.push(rt.run(spec, opts.catalog.endpoints.get(spec.endpoint)!, collections, status));
    }
    return rt;
  }

  /** Each materialization's status (copies). */
  status(): MaterializationStatus[] {
    return structuredClone(this.states);
  }

  /**
   * Resolves once every materialization has committed everything its source journals held when
   * called (their write heads then). Rejects when one fails for good meanwhile.
   */
  async settled(): Promise<void> {
    const targets = await Promise.all(
      this.states.map(async (s) => {
        const heads = await collectionHeads(this.opts.client, s.source);
        return { s, heads: Object.entries(heads).filter(([, head]) => head > 0) };
      }),
    );
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        const failed = targets.find((t) => t.s.state === 'failed' || t.s.state === 'stopped');
        if (failed) return done(new InletError('INTERNAL', `materialization ${failed.s.name} ${failed.s.state}: ${failed.s.lastError ?? 'stopped'}`));
        if (targets.every((t) => t.heads.every(([j, head]) => (t.s.readThrough[j] ?? 0) >= head))) done();
      };
      const done = (err?: Error) => {
        this.listeners.delete(check);
        if (err) reject(err);
        else resolve();
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Resolves with the status of the first materialization that fails for good (fenced off, incompatible table). */
  failed(): Promise<MaterializationStatus> {
    return new Promise((resolve) => {
      const check = () => {
        const s = this.states.find((x) => x.state === 'failed');
        if (!s) return;
        this.listeners.delete(check);
        resolve(structuredClone(s));
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Stops every materialization (an open transaction is abandoned; its input is read again at the next start). */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.loops);
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }

  /** One materialization: open, consume until stopped; on a failure, back off and start again from the checkpoint. */
  private async run(spec: MaterializationSpec, endpoint: EndpointSpec, collections: Map<string, Collection>, status: MaterializationStatus): Promise<void> {
    const labels = { materialization: spec.name };
    for (let attempt = 1; !this.abort.signal.aborted; ) {
      const driver = driverFor(spec, endpoint);
      try {
        const text = await driver.open();
        const restored = text === undefined ? undefined : (JSON.parse(text) as ConsumerCheckpoint);
        status.readThrough = readThrough(restored);
        status.state = 'running';
        this.metrics.up.set(labels, 1);
        this.changed();
        attempt = 1;
        const onCommit = (c: Committed) => {
          status.rowsWritten += c.rows;
          status.transactions += 1;
          status.lastCommit = new Date().toISOString();
          status.lastCommitLatencyMs = Date.now() - c.opened;
          status.readThrough = readThrough(c.checkpoint);
          this.metrics.rows.inc(labels, c.rows);
          this.metrics.txns.inc(labels);
          this.metrics.latency.set(labels, status.lastCommitLatencyMs / 1000);
          this.changed();
        };
        const store = new MaterializationStore(spec, collections.get(spec.reads.name)!, driver, restored, onCommit);
        await runConsumer({
          name: `materialize/${spec.name}`,
          client: this.opts.client,
          writer: this.opts.writer,
          collections,
          sources: [spec.reads.name],
          store,
          app: store,
          signal: this.abort.signal,
          // The database is never idle while input waits; transactions grow as its commits slow down.
          closeOnCommit: true,
          ...(this.opts.stallMs !== undefined ? { stallMs: this.opts.stallMs } : {}),
          ...(this.opts.maxTxnMs !== undefined ? { maxTxnMs: this.opts.maxTxnMs } : {}),
          ...(this.opts.stores ? { stores: this.opts.stores } : {}),
        });
      } catch (err) {
        await driver.close();
        const code = err instanceof InletError ? err.code : 'INTERNAL';
        status.lastError = err instanceof Error ? err.message : String(err);
        this.metrics.errors.inc({ ...labels, code });
        this.metrics.up.set(labels, 0);
        if (FATAL.has(code)) {
          status.state = 'failed';
          this.changed();
          return;
        }
        status.state = 'retrying';
        this.changed();
        await sleep(backoff(attempt++), undefined, { signal: this.abort.signal }).catch(() => undefined);
      } finally {
        await driver.close();
      }
    }
    status.state = 'stopped';
    this.metrics.up.set(labels, 0);
    this.changed();
  }
}

function readThrough(cp: ConsumerCheckpoint | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const journals of Object.values(cp?.sources ?? {})) for (const [j, c] of Object.entries(journals)) out[j] = c.readThrough;
  return out;
}

/** Adds to each status the bytes its source journals hold beyond what it has read (`lagBytes`). */
export async function withLag(statuses: MaterializationStatus[], client: BrokerClient): Promise<(MaterializationStatus & { lagBytes: number })[]> {
  return Promise.all(
    statuses.map(async (s) => {
      const heads = await collectionHeads(client, s.source);
      return { ...s, lagBytes: lagBytes(heads, (journal) => s.readThrough[journal]) };
    }),
  );
}
