import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Agent } from 'undici';
import type { AuthKeys } from '../broker/access/tokens.js';
import { createToken } from '../broker/access/tokens.js';
import type { Catalog } from '../catalog/types.js';
import { BrokerClient } from '../client/broker-client.js';
import { registerDerivationMetrics } from '../derive/metrics.js';
import { DerivationRuntime } from '../derive/runtime.js';
import type { SnapshotOptions } from '../derive/snapshots.js';
import { buildModules } from '../derive/typescript.js';
import { MaterializationRuntime, withLag } from '../materialize/runtime.js';
import { InletError } from '../errors.js';
import { CAPABILITIES } from '../protocol/auth.js';
import type { ConsumerProgress } from './consumer-progress.js';

/** A token the consumers of a broker use on it; long-lived, as the process that signs it. */
const CONSUMER_TOKEN_TTL_MS = 365 * 24 * 3600_000;

/**
 * The consumers of a catalog: its derivations and materializations, which talk to the broker
 * through its HTTP API only, whether they run beside it (`inlet serve --catalog`, `develop`) or
 * in a process of their own (`inlet runtime`). `routes` adds `GET /v1/derivations` and
 * `GET /v1/materializations` and their metrics to a server; `start` runs them against a broker;
 * `stop` stops them (before the broker drains, when beside it).
 */
export class ServedConsumers {
  private derivations: DerivationRuntime | undefined;
  private materializations: MaterializationRuntime | undefined;
  private client: BrokerClient | undefined;
  /** The consumers' own connections: the broker's server waits for open ones when it stops. */
  private readonly agent = new Agent();

  constructor(
    private readonly catalog: Catalog,
    private readonly dataDir: string,
    /** Transaction bounds of every consumer (see ConsumerOptions); their defaults otherwise. */
    private readonly txn: { maxTxnMs?: number; stallMs?: number } = {},
    /** When derivations snapshot their registers (see src/derive/snapshots.ts). */
    private readonly snapshots: SnapshotOptions = {},
  ) {}

  routes(app: FastifyInstance, registry: Registry): void {
    app.get('/v1/derivations', async () => ({ derivations: (await this.derivations?.refreshStatus()) ?? [] }));
    app.get('/v1/materializations', async () => ({
      materializations: this.materializations && this.client ? await withLag(this.materializations.status(), this.client) : [],
    }));
    registerDerivationMetrics(registry, () => this.derivations?.refreshStatus() ?? []);
  }

  /**
   * Starts the catalog's consumers against the broker at `url`, with `token`, or, given the
   * broker's `authKeys`, with a token of every capability that this process signs. `stores`:
   * the broker's own stores, whose fragments the consumers' readers then open themselves.
   */
  async start(url: string, opts: { registry: Registry; log: Logger; authKeys?: AuthKeys; token?: string; stores?: readonly string[] }): Promise<void> {
    const catalog = this.catalog;
    const token = opts.authKeys ? await createToken(opts.authKeys, { capabilities: [...CAPABILITIES], selector: '', ttlMs: CONSUMER_TOKEN_TTL_MS }) : opts.token;
    const client = (this.client = new BrokerClient(url, { dispatcher: this.agent, ...(token ? { token } : {}) }));
    // One batching writer for every consumer of the process: their ACKs (one line each) and parts to a journal share appends.
    const writer = client.batching().asWriter();
    try {
      if ([...catalog.collections.values()].some((c) => c.derivation)) {
        const module = await buildModules(catalog, { dir: join(this.dataDir, 'modules') });
        this.derivations = await DerivationRuntime.start({
          catalog,
          client,
          writer,
          dataDir: this.dataDir,
          ...this.txn,
          ...(module ? { module } : {}),
          snapshots: this.snapshots,
          log: (fields, msg) => opts.log.info(fields, msg),
          ...(opts.stores ? { stores: opts.stores } : {}),
        });
        opts.log.info({ derivations: this.derivations.status().map((d) => d.name) }, 'derivations started');
      }
      if (catalog.materializations.length > 0) {
        this.materializations = await MaterializationRuntime.start({ catalog, client, writer, registry: opts.registry, ...this.txn, ...(opts.stores ? { stores: opts.stores } : {}) });
        opts.log.info({ materializations: catalog.materializations.map((m) => m.name) }, 'materializations started');
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** How many derivations and materializations run. */
  get counts(): { derivations: number; materializations: number } {
    return { derivations: this.derivations?.status().length ?? 0, materializations: this.materializations?.status().length ?? 0 };
  }

  /**
   * Resolves once every consumer has committed what its sources held (derivations first, then
   * the materializations, which may read what they derived). Rejects when one has failed.
   */
  async settled(): Promise<void> {
    await this.derivations?.settled();
    await this.materializations?.settled();
  }

  /** Resolves with the error of the first materialization that fails for good (fenced off, an incompatible table). */
  async failedForGood(): Promise<InletError> {
    const s = await (this.materializations?.failed() ?? new Promise<never>(() => undefined));
    return new InletError('INTERNAL', `materialization ${s.name} failed: ${s.lastError ?? 'unknown error'}`);
  }

  /** How far behind each consumer is, for develop's progress line. */
  async progress(): Promise<ConsumerProgress[]> {
    const out: ConsumerProgress[] = [];
    for (const d of (await this.derivations?.refreshStatus()) ?? []) {
      const lagBytes = Object.values(d.sources).reduce((n, s) => n + s.lagBytes, 0);
      out.push({ kind: 'derivation', name: d.name, lagBytes, done: d.read, ...(d.state === 'failed' ? { failed: d.lastError ?? 'failed' } : {}) });
    }
    if (this.materializations && this.client) {
      for (const m of await withLag(this.materializations.status(), this.client)) {
        out.push({ kind: 'materialization', name: m.name, lagBytes: m.lagBytes, done: m.rowsWritten, ...(m.state === 'failed' ? { failed: m.lastError ?? 'failed' } : {}) });
      }
    }
    return out;
  }

  async stop(): Promise<void> {
    await this.derivations?.stop();
    await this.materializations?.stop();
    await this.agent.close();
  }
}
