import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CommitObserver } from '../journal/journal.js';

/** The broker's Prometheus metrics, on a registry of its own (several brokers may share a process in tests). */
export class BrokerMetrics implements CommitObserver {
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
  readonly readers = new Gauge({
    name: 'inlet_readers',
    help: 'Open reads, by mode (catch-up, long-poll, sse).',
    labelNames: ['mode'],
    registers: [this.registry],
  });
  readonly writeHead: Gauge;

  constructor(writeHeads: () => Iterable<[string, number]>) {
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

  onCommit(journal: string, appends: number, bytes: number, syncSeconds: number): void {
    this.appends.inc({ journal }, appends);
    this.appendBytes.inc({ journal }, bytes);
    this.fsyncSeconds.observe(syncSeconds);
    this.batchAppends.observe(appends);
  }
}
