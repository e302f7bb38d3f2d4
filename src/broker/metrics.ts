import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';


/** The broker's Prometheus metrics, on a registry of its own (several brokers may share a process in tests). */
export class BrokerMetrics {
  readonly registry = new Registry();
  readonly appends = new Counter({
    name: 'inlet_appends_total',
    help: 'Appends committed, by journal.',
    labelNames: ['journal'],
    registers: [this.registry],
  });
  readonly appendBytes = new Counter({
    name: 'inlet_append_bytes_total',
    help: 'Bytes committed, by journal.',
    labelNames: ['journal'],
    registers: [this.registry],
  });
  readonly appendErrors = new Counter({
    name: 'inlet_append_errors_total',
    help: 'Appends refused or failed, by error code.',
    labelNames: ['code'],
    registers: [this.registry],
  });
  readonly fsyncSeconds = new Histogram({
    name: 'inlet_commit_fsync_seconds',
    help: 'Time to write and fsync one group commit.',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly batchAppends = new Histogram({
    name: 'inlet_commit_batch_appends',
    help: 'Appends sharing one group commit.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  readonly historyReadBytes = new Counter({
    name: 'inlet_history_read_bytes_total',
    help: "Journal bytes the broker read out of fragments in the store for its readers (history no longer on its disk; readers given the store read it themselves).",
    registers: [this.registry],
  });
  readonly readers = new Gauge({
    name: 'inlet_readers',
    help: 'Open reads, by mode (catch-up, long-poll, sse).',
    labelNames: ['mode'],
    registers: [this.registry],
  });
  readonly writeHead: Gauge;
  readonly fragments = new Counter({
    name: 'inlet_fragments_persisted_total',
    help: 'Fragments confirmed in a store.',
    registers: [this.registry],
  });
  readonly persistedBytes = new Counter({
    name: 'inlet_fragment_bytes_total',
    help: 'Bytes persisted as fragments, uncompressed and compressed.',
    labelNames: ['form'],
    registers: [this.registry],
  });
  readonly compressSeconds = new Histogram({
    name: 'inlet_fragment_compress_seconds',
    help: 'Time to compress and hash one spool.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly uploadSeconds = new Histogram({
    name: 'inlet_fragment_upload_seconds',
    help: 'Time to upload one fragment.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly corruptFragments = new Counter({
    name: 'inlet_fragment_corrupt_total',
    help: 'Reads of persisted fragments whose content did not match their name (SHA-1, length) or did not decompress.',
    registers: [this.registry],
  });
  readonly uploadRetries = new Counter({
    name: 'inlet_fragment_upload_retries_total',
    help: 'Failed fragment uploads that will be retried.',
    registers: [this.registry],
  });
  readonly backlog: Gauge;

  constructor(writeHeads: () => Iterable<[string, number]>, backlogBytes: () => number) {
    this.backlog = new Gauge({
      name: 'inlet_persist_backlog_bytes',
      help: 'Bytes of sealed spools not yet confirmed in a store.',
      registers: [this.registry],
      collect() {
        this.set(backlogBytes());
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'inlet_process_' });
    this.writeHead = new Gauge({
      name: 'inlet_write_head_bytes',
      help: 'Write head of each journal.',
      labelNames: ['journal'],
      registers: [this.registry],
      // Read when scraped rather than updated on every commit.
      collect() {
        this.reset();
        for (const [journal, head] of writeHeads()) this.set({ journal }, head);
      },
    });
  }

  fragmentPersisted(f: { size: number }, bytes: number, stats: { compressMs: number; uploadMs: number }): void {
    this.fragments.inc();
    this.persistedBytes.inc({ form: 'uncompressed' }, bytes);
    this.persistedBytes.inc({ form: 'compressed' }, f.size);
    this.compressSeconds.observe(stats.compressMs / 1000);
    this.uploadSeconds.observe(stats.uploadMs / 1000);
  }

  onCommit(journal: string, appends: number, bytes: number, syncSeconds: number): void {
    this.appends.inc({ journal }, appends);
    this.appendBytes.inc({ journal }, bytes);
    this.fsyncSeconds.observe(syncSeconds);
    this.batchAppends.observe(appends);
  }
}
