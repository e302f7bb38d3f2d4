import type { Logger } from 'pino';
import { JournalRegistry } from '../journal/registry.js';
import type { Journal } from '../journal/journal.js';
import type { SpecDefaults } from '../journal/spec.js';
import { DEFAULT_POSTFIX_TEMPLATE } from '../protocol/postfix.js';
import type { BrokerConfig } from './config.js';
import { BrokerMetrics } from './metrics.js';
import { StreamService } from './streams.js';
import type { JournalObserver } from '../journal/journal.js';
import { InletError } from '../errors.js';
import { Lake } from './lake.js';
import { LocalWriter } from './local-writer.js';

/**
 * A running broker's state: its frozen config, journals, protocol semantics and metrics.
 * HTTP routes are a thin layer over this.
 */
export class Broker {
  closing = false;
  /** Ends each long-poll wait under way (for shutdown); a wait removes itself when it ends. */
  private readonly liveWaits = new Set<() => void>();
  /** The journals as a port for code running beside the broker (the collections plugin). */
  readonly writer: LocalWriter;

  private constructor(
    readonly config: BrokerConfig,
    readonly registry: JournalRegistry,
    readonly streams: StreamService,
    readonly metrics: BrokerMetrics,
    readonly lake: Lake,
    readonly log: Logger,
  ) {
    this.writer = new LocalWriter(registry, streams, () => this.checkBacklog());
  }

  /** Loads every journal in the data dir, recovering spools after a crash. */
  static async open(config: BrokerConfig, log: Logger): Promise<Broker> {
    const holder: { registry?: JournalRegistry; lake?: Lake } = {};
    const metrics = new BrokerMetrics(
      function* () {
        for (const j of holder.registry?.list() ?? []) yield [j.name, j.head] as [string, number];
      },
      () => holder.lake?.persister.backlogBytes ?? 0,
    );
    const lake = (holder.lake = new Lake(config, metrics, log));
    const observer: JournalObserver = {
      onCommit: (...args) => metrics.onCommit(...args),
      onSeal: (journal, spool) => lake.onSeal(journal, spool),
    };
    let registry: JournalRegistry;
    try {
      registry = holder.registry = await JournalRegistry.load(config.dataDir, journalDefaults(config), observer, { maxOpenSpools: config.maxOpenSpools });
      logRecovery(registry, log);
      registry.onChange = (name, record) => lake.mirrorRecord(name, record);
      await lake.start(registry);
    } catch (err) {
      // The lake's compression workers would keep a failed start's process alive forever.
      await lake.close(0).catch(() => undefined);
      throw err;
    }
    const broker = new Broker(config, registry, new StreamService(registry, lake), metrics, lake, log);
    log.info({ journals: registry.list().length, failed: registry.failures.size, dataDir: config.dataDir, store: config.store }, 'journals recovered');
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
      if (!(await this.nextChange(journal, remaining, abort))) return false;
    }
    return true;
  }

  /**
   * Resolves true on the journal's next change, false after `ms`, on `abort` or at shutdown.
   * Everything it registers is unregistered when it resolves. (It used to race a promise that
   * stays pending until shutdown; each long-poll left a reaction on it for good, ~460 bytes,
   * which under a tailing reader grew the heap without bound and with it GC pauses.)
   */
  private nextChange(journal: Journal, ms: number, abort?: AbortSignal): Promise<boolean> {
    // Released at the journal's next change, which replaces the promise.
    return this.wake(journal.nextChange(), ms, abort);
  }

  /** Resolves true when `change` does, false after `ms`, on `abort` or at shutdown; unregisters all it registered. */
  private wake(change: Promise<void>, ms: number, abort?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const end = (woke: boolean) => {
        clearTimeout(timer);
        abort?.removeEventListener('abort', stop);
        this.liveWaits.delete(stop);
        resolve(woke);
      };
      const stop = () => end(false);
      const timer = setTimeout(stop, ms);
      abort?.addEventListener('abort', stop, { once: true });
      this.liveWaits.add(stop);
      if (this.closing) stop();
      void change.then(() => end(true));
    });
  }

  /**
   * Waits until the registry's revision is other than `revision` (a journal created, updated,
   * closed or deleted), up to the long-poll timeout, `abort` or shutdown; true when it changed.
   */
  async waitForListChange(revision: string, abort?: AbortSignal): Promise<boolean> {
    if (this.registry.revision !== revision) return true;
    return this.wake(this.registry.nextListChange(), this.config.longPollTimeoutMs, abort);
  }

  /** Ends live reads (long-polls answer, SSE streams end) so the server can drain. */
  stopLiveReads(): void {
    this.closing = true;
    for (const stop of this.liveWaits) stop();
  }

  /**
   * Waits for in-flight appends to commit, seals every spool and waits (up to the shutdown
   * grace) for their fragments to reach the store, then closes the journals' files.
   */
  async close(): Promise<void> {
    this.stopLiveReads();
    await Promise.all(this.registry.list().map((j) => j.drain()));
    await this.lake.close(this.config.shutdownGraceMs);
    await this.registry.close();
  }

  /**
   * Refuses appends to `journal` while the backlog of its store (the default store when no
   * journal is named) exceeds the local disk budget: back-pressure, never loss. The budget is
   * per store, so journals on a healthy store keep appending while another store is down.
   */
  checkBacklog(journal?: Journal): void {
    const store = journal?.spec.fragment.stores[0] ?? this.config.store;
    const backlog = this.lake.persister.backlogOf(store);
    if (backlog > this.config.diskBudget) {
      throw new InletError(
        'STORE_BACKLOG',
        `the fragment store ${store} is not keeping up: ${backlog} bytes wait to upload, over the local disk budget of ${this.config.diskBudget} (--disk-budget); retry later`,
      );
    }
  }
}

/**
 * Says what recovery could not keep, journal by journal and range by range, and which bytes it
 * cut as never acknowledged: a restart after damage must never pass for a clean one.
 */
function logRecovery(registry: JournalRegistry, log: Logger): void {
  for (const [journal, err] of registry.failures) {
    log.error({ journal, ...err.details }, err.message);
  }
  for (const j of registry.list()) {
    const cut = j.unacknowledgedCut;
    if (cut) log.warn({ journal: j.name, begin: cut.begin, end: cut.end }, `journal ${j.name}: cut offsets [${cut.begin}, ${cut.end}), an append in flight at the crash that was never acknowledged`);
  }
}

/** What a journal created without a full spec gets: the broker's configured defaults. */
export function journalDefaults(config: BrokerConfig): SpecDefaults {
  return {
    allowedStores: config.stores,
    labels: {},
    contentType: 'application/octet-stream',
    validateJson: false,
    fragment: {
      length: config.fragmentLength,
      codec: config.compression,
      flushInterval: config.flushInterval,
      pathPostfixTemplate: DEFAULT_POSTFIX_TEMPLATE,
      stores: [config.store],
      refreshInterval: config.refreshInterval,
      retention: config.retention,
    },
  };
}
