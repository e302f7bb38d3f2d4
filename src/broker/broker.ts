import type { Logger } from 'pino';
import { JournalRegistry } from '../journal/registry.js';
import type { Journal } from '../journal/journal.js';
import type { JournalSpec } from '../journal/spec.js';
import type { BrokerConfig } from './config.js';
import { BrokerMetrics } from './metrics.js';
import { StreamService } from './streams.js';
import { signal } from '../journal/deferred.js';

/**
 * A running broker's state: its frozen config, journals, protocol semantics and metrics.
 * HTTP routes are a thin layer over this.
 */
export class Broker {
  closing = false;
  private readonly shutdown = signal();

  private constructor(
    readonly config: BrokerConfig,
    readonly registry: JournalRegistry,
    readonly streams: StreamService,
    readonly metrics: BrokerMetrics,
    readonly log: Logger,
  ) {}

  /** Loads every journal in the data dir, recovering spools after a crash. */
  static async open(config: BrokerConfig, log: Logger): Promise<Broker> {
    const holder: { registry?: JournalRegistry } = {};
    const metrics = new BrokerMetrics(function* () {
      for (const j of holder.registry?.list() ?? []) yield [j.name, j.head] as [string, number];
    });
    const registry = await JournalRegistry.load(config.dataDir, journalDefaults(config), metrics);
    holder.registry = registry;
    const broker = new Broker(config, registry, new StreamService(registry), metrics, log);
    log.info({ journals: registry.list().length, dataDir: config.dataDir }, 'journals recovered');
    return broker;
  }

  /**
   * Waits until `journal` has bytes beyond `offset`, or changes state (closed, deleted).
   * Resolves false on the long-poll timeout, when `abort` fires, or at shutdown.
   * Waiters hold no timer work beyond one setTimeout and cost no CPU while idle.
   */
  async waitForData(journal: Journal, offset: number, abort?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + this.config.longPollTimeoutMs;
    while (journal.head <= offset && !journal.deleted && !this.streams.state(journal.name).closed) {
      const remaining = deadline - Date.now();
      if (remaining <= 0 || this.closing || abort?.aborted) return false;
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const woke = await Promise.race([
        journal.nextChange().then(() => true),
        this.shutdown.promise.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), remaining);
          onAbort = () => resolve(false);
          abort?.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
      clearTimeout(timer);
      if (onAbort) abort?.removeEventListener('abort', onAbort);
      if (!woke) return false;
    }
    return true;
  }

  /** Ends live reads (long-polls answer, SSE streams end) so the server can drain. */
  stopLiveReads(): void {
    this.closing = true;
    this.shutdown.fire();
  }

  /** Waits for in-flight appends to commit, then closes the journals' files. */
  async close(): Promise<void> {
    this.stopLiveReads();
    await this.registry.close();
  }
}

/** What a journal created without a full spec gets: the broker's configured defaults. */
export function journalDefaults(config: BrokerConfig): Omit<JournalSpec, 'name'> {
  return {
    labels: {},
    contentType: 'application/octet-stream',
    validateJson: false,
    fragment: {
      length: config.fragmentLength,
      codec: config.compression,
      flushInterval: config.flushInterval,
      pathPostfixTemplate: 'utc_date=%Y-%m-%d/utc_hour=%H',
      stores: [config.store],
      refreshInterval: config.refreshInterval,
      retention: config.retention,
    },
  };
}
