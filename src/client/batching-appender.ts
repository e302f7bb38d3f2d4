import type { JournalSpecInput } from '../protocol/journal-spec.js';
import type { BrokerClient } from './broker-client.js';
import { Appender, type AppenderOptions } from './appender.js';
import type { JournalWriter } from './journal-writer.js';

export interface BatchingOptions extends AppenderOptions {
  /**
   * How long a batch waits for more documents after its first, in ms (Kafka's linger.ms).
   * 0 (the default): until the next turn of the event loop, so callers of one tick share an append.
   */
  linger?: number;
  /** A batch is sent at once when it reaches this many bytes (default 1 MiB). */
  maxBytes?: number;
  /** …or this many documents (default 10,000). */
  maxDocs?: number;
}

/** Where one caller's document landed: `[begin, end)` in its journal. */
export interface DocOffsets {
  begin: number;
  end: number;
}

interface Waiter {
  bytes: Buffer;
  resolve: (o: DocOffsets) => void;
  reject: (err: unknown) => void;
}

interface Batch {
  waiters: Waiter[];
  bytes: number;
  timer: NodeJS.Timeout | NodeJS.Immediate;
}

/**
 * Coalesces documents from many callers into one append per journal per tick (or per `linger`).
 *
 * Each call resolves with its own document's offsets once the batch's append is durable; a batch
 * the broker refuses (or that fails after its retries) rejects every caller of that batch with
 * the same error. Batches go out through an `Appender`, so as an idempotent producer (a retry is
 * never written twice) and, per journal, one at a time in the order they were formed: documents
 * of one caller land in the order of its calls.
 */
export class BatchingAppender {
  private readonly appender: Appender;
  private readonly open = new Map<string, Batch>();
  private readonly linger: number;
  private readonly maxBytes: number;
  private readonly maxDocs: number;

  constructor(client: BrokerClient, opts: BatchingOptions = {}) {
    this.appender = new Appender(client, opts);
    this.linger = opts.linger ?? 0;
    this.maxBytes = opts.maxBytes ?? 1 << 20;
    this.maxDocs = opts.maxDocs ?? 10_000;
    if (!(this.linger >= 0) || !(this.maxBytes > 0) || !(this.maxDocs >= 1)) {
      throw new RangeError('linger must be ≥ 0, maxBytes > 0 and maxDocs ≥ 1');
    }
  }

  /** Creates the journal with its spec unless it exists. */
  ensure(spec: JournalSpecInput): Promise<void> {
    return this.appender.ensure(spec);
  }

  /**
   * Queues one document (NDJSON: a newline is added unless it ends with one) for `journal`'s
   * next batch; resolves with where it landed.
   */
  append(journal: string, doc: Buffer | string): Promise<DocOffsets> {
    let bytes = typeof doc === 'string' ? Buffer.from(doc) : doc;
    if (bytes.length === 0 || bytes[bytes.length - 1] !== 0x0a) bytes = Buffer.concat([bytes, NL]);
    return new Promise<DocOffsets>((resolve, reject) => {
      let batch = this.open.get(journal);
      // A document that would push the batch over its byte limit starts the next batch.
      if (batch && batch.bytes + bytes.length > this.maxBytes) {
        this.send(journal, batch);
        batch = undefined;
      }
      if (!batch) {
        const b: Batch = {
          waiters: [],
          bytes: 0,
          timer: this.linger > 0
            ? setTimeout(() => this.send(journal, b), this.linger)
            : setImmediate(() => this.send(journal, b)),
        };
        batch = b;
        this.open.set(journal, b);
      }
      batch.waiters.push({ bytes, resolve, reject });
      batch.bytes += bytes.length;
      if (batch.waiters.length >= this.maxDocs || batch.bytes >= this.maxBytes) this.send(journal, batch);
    });
  }

  /**
   * This appender as the `JournalWriter` port: each `append` (a whole NDJSON part, one line or
   * many) joins the journal's next batch, lands contiguously, and resolves with its end offset.
   * The consumers of one process share one, so their ACKs and parts to one journal in one tick
   * go out as one append.
   */
  asWriter(): JournalWriter {
    return {
      ensure: (spec) => this.ensure(spec),
      append: async (journal, body) => (await this.append(journal, body)).end,
      checkBacklog: () => undefined,
    };
  }

  /** Sends every open batch now (without waiting for the linger); resolves once they are durable or failed. */
  async flush(): Promise<void> {
    const sent = [...this.open].map(([journal, batch]) => this.send(journal, batch));
    await Promise.allSettled(sent);
  }

  private send(journal: string, batch: Batch): Promise<void> {
    if (this.open.get(journal) === batch) this.open.delete(journal);
    clearTimeout(batch.timer as NodeJS.Timeout);
    clearImmediate(batch.timer as NodeJS.Immediate);
    const { waiters } = batch;
    if (waiters.length === 0) return Promise.resolve();
    batch.waiters = [];
    const body = waiters.length === 1 ? waiters[0]!.bytes : Buffer.concat(waiters.map((w) => w.bytes), batch.bytes);
    return this.appender.append(journal, body).then(
      (end) => {
        // The batch is [end - length, end); each document its own slice, in queue order.
        let at = end - body.length;
        for (const w of waiters) {
          const begin = at;
          at += w.bytes.length;
          w.resolve({ begin, end: at });
        }
      },
      (err: unknown) => {
        for (const w of waiters) w.reject(err);
      },
    );
  }
}

const NL = Buffer.from('\n');
