import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Agent } from 'undici';
import type { AuthKeys } from '../broker/access/tokens.js';
import { createToken } from '../broker/access/tokens.js';
import { loadCatalog } from '../catalog/load.js';
import { Appender } from '../client/appender.js';
import { BrokerClient } from '../client/broker-client.js';
import { registerDerivationMetrics } from '../derive/metrics.js';
import { DerivationRuntime } from '../derive/runtime.js';
import { buildModules } from '../derive/typescript.js';
import { MaterializationRuntime, withLag } from '../materialize/runtime.js';
import { CAPABILITIES } from '../protocol/auth.js';
import type { ConsumerProgress } from './consumer-progress.js';

/** A token the consumers of a broker use on it; long-lived, as the process that signs it. */
const CONSUMER_TOKEN_TTL_MS = 365 * 24 * 3600_000;

/**
 * The consumers of `inlet serve --catalog`: its derivations and materializations, which talk
 * to the broker through its HTTP API as `inlet runtime` would from another process. `routes`
 * adds `GET /v1/derivations` and `GET /v1/materializations` and their metrics before the broker
 * listens; `start` runs them once it does; `stop` stops them before the broker drains.
 */
export class ServedConsumers {
  private derivations: DerivationRuntime | undefined;
  private materializations: MaterializationRuntime | undefined;
  private client: BrokerClient | undefined;
  /** The consumers' own connections: the broker's server waits for open ones when it stops. */
  private readonly agent = new Agent();

  constructor(
    private readonly catalogPath: string,
    private readonly dataDir: string,
  ) {}

  routes(app: FastifyInstance, registry: Registry): void {
    app.get('/v1/derivations', async () => ({ derivations: (await this.derivations?.refreshStatus()) ?? [] }));
    app.get('/v1/materializations', async () => ({
      materializations: this.materializations && this.client ? await withLag(this.materializations.status(), this.client) : [],
    }));
    registerDerivationMetrics(registry, () => this.derivations?.refreshStatus() ?? []);
  }

  /**
   * Starts the catalog's consumers against the broker at `url`. With `authKeys` (the broker
   * checks tokens) they carry a token of every capability that this process signs.
   */
  async start(url: string, opts: { registry: Registry; log: Logger; authKeys?: AuthKeys }): Promise<void> {
    const catalog = await loadCatalog(this.catalogPath);
    const token = opts.authKeys ? await createToken(opts.authKeys, { capabilities: [...CAPABILITIES], selector: '', ttlMs: CONSUMER_TOKEN_TTL_MS }) : undefined;
    const client = (this.client = new BrokerClient(url, { dispatcher: this.agent, ...(token ? { token } : {}) }));
    const writer = new Appender(client);
    try {
      if ([...catalog.collections.values()].some((c) => c.derivation)) {
        const module = await buildModules(catalog, { dir: join(this.dataDir, 'modules') });
        this.derivations = await DerivationRuntime.start({ catalog, client, writer, dataDir: this.dataDir, ...(module ? { module } : {}) });
        opts.log.info({ derivations: this.derivations.status().map((d) => d.name) }, 'derivations started');
      }
      if (catalog.materializations.length > 0) {
        this.materializations = await MaterializationRuntime.start({ catalog, client, writer, registry: opts.registry });
        opts.log.info({ materializations: catalog.materializations.map((m) => m.name) }, 'materializations started');
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
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
