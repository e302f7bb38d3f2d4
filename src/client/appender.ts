import { randomUUID } from 'node:crypto';
import type { JournalSpecInput } from '../protocol/journal-spec.js';
import type { BrokerClient } from './broker-client.js';
import type { JournalWriter } from './journal-writer.js';
import { InletError } from '../errors.js';
import { retry, type RetryPolicy } from '../retry.js';

export interface AppenderOptions {
  /** Backoff between attempts (default: inlet's one policy). */
  policy?: RetryPolicy;
  /** Attempts per request, the first included, before a transient failure is thrown. Default 10. */
  attempts?: number;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/**
 * The `JournalWriter` port over HTTP: publishers and consumers write to a broker from any process.
 *
 * Every append goes out as an idempotent producer of the Durable Streams protocol (one
 * Producer-Id per appender, a Producer-Seq per journal), so a retry after a lost answer is
 * recognised by the broker and never writes twice. Transient failures (unreachable, 5xx) are
 * retried under inlet's one policy (src/retry.ts); refusals (4xx: a closed or deleted journal, a wrong expected
 * offset) are thrown at once. Appends to one journal are sent one at a time, in call order.
 */
export class Appender implements JournalWriter {
  /** The producer each journal's appends go out under, and its next sequence number. */
  private readonly producers = new Map<string, { id: string; seq: number }>();
  private readonly ensured = new Set<string>();
  /** The tail of each journal's appends: the next one waits for it. */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(
    private readonly client: BrokerClient,
    private readonly opts: AppenderOptions = {},
  ) {}

  /** Creates the journal with its spec unless it exists; an existing journal is used as it is. */
  async ensure(spec: JournalSpecInput): Promise<void> {
    if (this.ensured.has(spec.name)) return;
    await this.retry(async () => {
      try {
        await this.client.head(spec.name);
      } catch (err) {
        if ((err as { code?: string }).code !== 'JOURNAL_NOT_FOUND') throw err;
        // Applying is idempotent: a journal another writer created meanwhile comes back "unchanged" or "updated" alike.
        await this.client.applyJournals({ journals: [spec] }, false);
      }
    });
    this.ensured.add(spec.name);
  }

  /** Appends `body`; with `expectOffset`, only if the journal's write head is there (else WRONG_APPEND_OFFSET). */
  append(journal: string, body: Buffer, expectOffset?: number): Promise<number> {
    const run = (this.tails.get(journal) ?? Promise.resolve()).catch(() => undefined).then(async () => {
      const p = this.producers.get(journal) ?? { id: randomUUID(), seq: 0 };
      this.producers.set(journal, p);
      try {
        const end = await this.retry(async () => {
          const out = await this.client.append(journal, body, 'application/x-ndjson', {
            producer: { id: p.id, epoch: 0, seq: p.seq },
            ...(expectOffset !== undefined ? { expectOffset } : {}),
          });
          // A retry the broker recognised as already appended answers with that append's offsets;
          // a broker that does not know them any more (its state predates them): the bytes are
          // somewhere before the head.
          return out.duplicate && !Number.isFinite(out.end) ? (await this.client.head(journal)).writeHead : out.end;
        });
        p.seq++;
        return end;
      } catch (err) {
        // Whether the last attempt landed is unknown: a new producer keeps a later append from passing for its duplicate.
        this.producers.delete(journal);
        throw err;
      }
    });
    this.tails.set(journal, run);
    void run.finally(() => {
      if (this.tails.get(journal) === run) this.tails.delete(journal);
    }).catch(() => undefined);
    return run;
  }

  /** The broker answers a backlog with 503 on the append itself, which is retried. */
  checkBacklog(): void {}

  private retry<T>(fn: () => Promise<T>): Promise<T> {
    const attempts = this.opts.attempts ?? 10;
    return retry(fn, {
      // Transient: the broker unreachable, restarting or busy (any 5xx). Refusals (4xx) are final.
      retryable: (err, attempt) => err instanceof InletError && err.status >= 500 && attempt < attempts,
      ...(this.opts.policy ? { policy: this.opts.policy } : {}),
      ...(this.opts.onRetry ? { onRetry: this.opts.onRetry } : {}),
    });
  }
}
