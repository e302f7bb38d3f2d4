import { setTimeout as sleep } from 'node:timers/promises';
import type { BrokerClient } from '../client/broker-client.js';
import { JournalReader } from './journal-reader.js';
import type { Chunk, ReaderOptions } from './types.js';

export interface SelectorReaderOptions extends ReaderOptions {
  /** Per-journal start offsets (e.g. saved checkpoints); others start at `offset`. */
  offsets?: Record<string, number>;
  /**
   * When following, journals created after the read began are found at once by watching the
   * broker's listing; against a broker that cannot be watched, by listing this often. Default 2s.
   */
  discoverEveryMs?: number;
  /** Chunks buffered across all journals before the readers are paused. Default 16. */
  buffer?: number;
}

/**
 * Reads every journal a label selector picks (all partitions of a collection) as one stream
 * of chunks. Each journal's chunks stay in order; journals interleave. When following, journals
 * created later are picked up. Memory is bounded: when the consumer falls behind, every
 * journal reader waits.
 */
export class SelectorReader implements AsyncIterable<Chunk> {
  /** The reader of each journal found so far, with its current offset. */
  readonly readers = new Map<string, JournalReader>();

  constructor(
    private readonly client: BrokerClient,
    readonly selector: string,
    private readonly opts: SelectorReaderOptions = {},
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Chunk> {
    const cap = this.opts.buffer ?? 16;
    const queue: Chunk[] = [];
    let failure: unknown;
    let wakeConsumer: (() => void) | undefined;
    let wakeProducers: (() => void)[] = [];
    let running = 0;
    let discovering = true;
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    this.opts.signal?.addEventListener('abort', onAbort, { once: true });
    const signal = abort.signal;
    const notify = () => {
      wakeConsumer?.();
      wakeConsumer = undefined;
    };

    const pump = async (reader: JournalReader) => {
      running++;
      try {
        for await (const chunk of reader) {
          while (queue.length >= cap && !signal.aborted) await new Promise<void>((r) => wakeProducers.push(r));
          if (signal.aborted) return;
          queue.push(chunk);
          notify();
        }
      } catch (err) {
        failure ??= err;
        abort.abort();
      } finally {
        running--;
        notify();
      }
    };

    const discover = async () => {
      try {
        let revision: string | undefined;
        do {
          const list = await this.client.watchJournals(this.selector, revision, signal);
          for (const j of list.journals) {
            const name = j.spec.name;
            if (this.readers.has(name)) continue;
            const start = this.opts.offsets?.[name] ?? this.opts.offset ?? 0;
            const reader = new JournalReader(this.client, name, { ...this.opts, offset: start, signal });
            this.readers.set(name, reader);
            void pump(reader);
          }
          if (!this.opts.follow) break;
          revision = list.revision;
          if (revision === undefined) await sleep(this.opts.discoverEveryMs ?? 2000, undefined, { signal }).catch(() => undefined);
        } while (!signal.aborted);
      } catch (err) {
        if (!signal.aborted) {
          failure ??= err;
          abort.abort();
        }
      } finally {
        discovering = false;
        notify();
      }
    };
    void discover();

    try {
      for (;;) {
        if (queue.length > 0) {
          yield queue.shift()!;
          const waiting = wakeProducers;
          wakeProducers = [];
          for (const w of waiting) w();
          continue;
        }
        if (failure) throw failure;
        if (!discovering && running === 0) return;
        await new Promise<void>((r) => (wakeConsumer = r));
      }
    } finally {
      abort.abort();
      for (const w of wakeProducers) w();
      this.opts.signal?.removeEventListener('abort', onAbort);
    }
  }
}
