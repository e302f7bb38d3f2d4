import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Agent } from 'undici';
import { loadCatalog } from '../catalog/load.js';
import { BrokerClient } from '../client/broker-client.js';
import type { JournalWriter } from '../client/journal-writer.js';
import { MaterializationRuntime, withLag } from '../materialize/runtime.js';

/**
 * The materializations of `inlet serve --catalog`: `routes` adds `GET /v1/materializations`
 * (each one's status and lag) before the broker listens; `start` runs them once it does.
 */
export class ServedMaterializations {
  private runtime: MaterializationRuntime | undefined;
  private readonly agent = new Agent();

  constructor(private readonly catalogPath: string) {}

  routes(app: FastifyInstance, url: () => string): void {
    app.get('/v1/materializations', async () => {
      const statuses = this.runtime?.status() ?? [];
      return { materializations: await withLag(statuses, new BrokerClient(url(), { dispatcher: this.agent })) };
    });
  }

  /** Starts the catalog's materializations against the broker at `url`, writing through `writer`. */
  async start(url: string, writer: JournalWriter, registry: Registry, log: Logger): Promise<void> {
    const catalog = await loadCatalog(this.catalogPath);
    if (catalog.materializations.length === 0) return;
    this.runtime = await MaterializationRuntime.start({ catalog, client: new BrokerClient(url, { dispatcher: this.agent }), writer, registry });
    log.info({ materializations: catalog.materializations.map((m) => m.name) }, 'materializations started');
  }

  async stop(): Promise<void> {
    await this.runtime?.stop();
    // The broker's server waits for open connections at its stop: close this process's own.
    await this.agent.close();
  }
}
