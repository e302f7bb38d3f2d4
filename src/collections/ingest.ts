import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { JournalWriter } from '../client/journal-writer.js';
import { crashPoint } from '../crashpoints.js';
import { KeyLock } from '../key-lock.js';
import { InletError } from '../errors.js';
import type { IngestResult } from '../protocol/collections.js';
import type { Collection } from './collection.js';
import { ackIntents, Publisher, writeAcks, type AckIntents } from './publisher.js';
import { Router, type Routed } from './route.js';
import { TxnLog, type ClientState } from './txn-log.js';
import { ClockSource, namedProducer, randomProducer, ZERO_CLOCK } from './uuid.js';

/** A client-named producer and the sequence number of this request, for retries. */
export interface ProducerRef {
  readonly id: string;
  readonly seq: number;
}

export type { IngestResult } from '../protocol/collections.js';

/**
 * Transactional ingestion into collections. One request is one transaction: its documents
 * are validated and combined per key, appended to every partition journal involved as
 * CONTINUE_TXN documents, committed by a record in the transaction log, then made visible
 * by an ACK document in each journal. A crash before the commit record is undone at restart
 * (ACKs at the producer's previous clock roll the documents back); after it, the ACKs are
 * written at restart. Documents go through a `Router` and out through a `Publisher`; this
 * class adds the request's shape, producer retries, lanes and the transaction log.
 */
export class Ingester {
  private readonly clocks = new ClockSource();
  /** One transaction at a time per producer: its ACKs must not commit another's documents. */
  private readonly locks = new KeyLock();
  /** Transactions whose ACKs (or rollback ACKs) failed to append: retried until they land. */
  private readonly unsettled = new Map<string, AckIntents>();
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly lanes = new Lanes(16);

  private constructor(
    private readonly collections: ReadonlyMap<string, Collection>,
    private readonly writer: JournalWriter,
    private readonly log: TxnLog,
    private readonly logger: Logger,
  ) {
    this.clocks.observe(log.maxClock);
  }

  /** Opens the transaction log in `dir` and finishes the transactions a crash interrupted. */
  static async open(dir: string, collections: ReadonlyMap<string, Collection>, writer: JournalWriter, logger: Logger): Promise<Ingester> {
    const ing = new Ingester(collections, writer, await TxnLog.open(dir), logger);
    await ing.recover();
    return ing;
  }

  /** Rolls back prepared transactions and forward committed ones: both are ACKs at a recorded clock. */
  private async recover(): Promise<void> {
    const open = [...this.log.open.values()];
    for (const rec of open) {
      this.unsettled.set(rec.txn, ackIntents(rec.producer, rec.op === 'commit' ? rec.clock : rec.rollback, rec.journals));
    }
    await this.settle();
    const forward = open.filter((r) => r.op === 'commit').length;
    if (open.length > 0) this.logger.info({ rolledForward: forward, rolledBack: open.length - forward }, 'interrupted ingest transactions finished');
  }

  async ingest(body: unknown, producer?: ProducerRef): Promise<IngestResult> {
    const routed = this.prepareDocuments(body);
    const key = producer ? `client:${producer.id}` : randomUUID();
    return this.locks.run(key, () => this.commit(routed, producer));
  }

  /** Validates, combines and routes a request's documents; throws before anything is written. */
  private prepareDocuments(body: unknown): Routed {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new InletError('BAD_REQUEST', 'the body must be a JSON object: { "<collection>": [documents…] }');
    }
    const router = new Router(this.collections);
    for (const [name, docs] of Object.entries(body)) {
      router.collection(name);
      if (!Array.isArray(docs)) throw new InletError('BAD_REQUEST', `${name}: must be a list of documents`);
      docs.forEach((doc, i) => router.add(name, doc, i));
    }
    const routed = router.drain();
    if (routed.received === 0) throw new InletError('EMPTY_APPEND', 'the request holds no documents');
    return routed;
  }

  /**
   * Requests without a producer of their own run on one of a few broker producers ("lanes"),
   * one transaction at a time each: readers then track a handful of producers per broker
   * process, not one per request.
   */
  private async commit(routed: Routed, ref?: ProducerRef): Promise<IngestResult> {
    if (ref) return this.commitAs(routed, ref, undefined);
    const lane = await this.lanes.acquire();
    try {
      return await this.commitAs(routed, undefined, lane);
    } finally {
      this.lanes.release(lane);
    }
  }

  private async commitAs(routed: Routed, ref: ProducerRef | undefined, lane: Lane | undefined): Promise<IngestResult> {
    const last = ref ? this.log.clients.get(ref.id) : undefined;
    if (ref && last) {
      if (ref.seq === last.seq) return { ...(last.response as IngestResult), duplicate: true };
      if (ref.seq < last.seq) {
        throw new InletError('SEQUENCE_CONFLICT', `Producer-Seq ${ref.seq} of producer ${ref.id} is behind its last committed ${last.seq}`, {
          details: { lastSeq: last.seq, receivedSeq: ref.seq },
        });
      }
    }
    this.writer.checkBacklog();
    // A client's producer id is also this log's: a broker with another log (or a lost one) never
    // shares producer ids, and so never clocks, with this one.
    const producer = lane ? lane.producer : namedProducer(`${this.log.epoch}/${ref!.id}`);
    const rollback = lane ? lane.clock : (last?.clock ?? ZERO_CLOCK);
    const pub = new Publisher(this.writer, producer, rollback, { clocks: this.clocks, crashLabel: 'ingest' });
    await pub.ensure(routed);
    const bodies = pub.encode(routed);
    const journals = pub.journals;

    const txn = randomUUID();
    await this.settle();
    await this.log.write({ op: 'prepare', txn, producer, rollback, journals });
    let docEnds: Record<string, number>;
    try {
      docEnds = await pub.append(bodies);
    } catch (err) {
      // Nothing is committed: roll back whatever reached a journal, so no later ACK of this producer commits it.
      await this.finish(txn, pub.rollback()).catch(() => undefined);
      throw err;
    }

    const intents = pub.commit();
    const clock = pub.lastCommitted;
    const result: IngestResult = { journals: docEnds, received: routed.received, stored: routed.stored };
    const client: ClientState | undefined = ref ? { id: ref.id, producer, seq: ref.seq, clock, at: Date.now(), response: { ...result, acks: 'pending' } } : undefined;
    try {
      await this.log.write({ op: 'commit', txn, producer, clock, journals, ...(client ? { client } : {}) });
    } catch (err) {
      // Not committed after all: undo it like a failed append.
      await this.finish(txn, ackIntents(producer, rollback, journals)).catch(() => undefined);
      throw err;
    }
    crashPoint('ingest.commit');
    if (lane) lane.clock = clock;
    // Committed: the answer is success even if ACKs must be retried; they are, until they land.
    let ends: Record<string, number>;
    try {
      ends = await this.finish(txn, intents);
    } catch {
      return { ...result, acks: 'pending' };
    }
    if (client) await this.log.write({ op: 'client', state: { ...client, response: { ...result, journals: ends } } }, false);
    return { ...result, journals: ends };
  }

  /** Writes a transaction's ACKs (or rollback ACKs) and marks it done; on failure keeps retrying them. */
  private async finish(txn: string, intents: AckIntents): Promise<Record<string, number>> {
    try {
      const ends = await writeAcks(this.writer, intents, 'ingest');
      await this.log.write({ op: 'done', txn }, false);
      return ends;
    } catch (err) {
      this.logger.error({ err, txn }, 'appending ingest ACKs failed; retrying');
      this.unsettled.set(txn, intents);
      this.retryTimer ??= setInterval(() => void this.settle().catch(() => undefined), 2000).unref();
      throw err;
    }
  }

  /** Retries the ACKs of unsettled transactions, before any new transaction may commit. */
  private async settle(): Promise<void> {
    for (const [txn, intents] of this.unsettled) {
      await writeAcks(this.writer, intents, 'ingest');
      await this.log.write({ op: 'done', txn }, false);
      this.unsettled.delete(txn);
    }
    if (this.unsettled.size === 0 && this.retryTimer) {
      clearInterval(this.retryTimer);
      this.retryTimer = undefined;
    }
  }

  async close(): Promise<void> {
    await this.locks.idle();
    if (this.retryTimer) clearInterval(this.retryTimer);
    await this.log.close();
  }
}

/** A broker producer for requests without their own, with its last committed clock. */
interface Lane {
  readonly producer: string;
  clock: string;
}

/** A fixed set of lanes, each lent to one transaction at a time. Ids are new in each process. */
class Lanes {
  private readonly free: Lane[];
  private readonly waiting: ((lane: Lane) => void)[] = [];

  constructor(n: number) {
    this.free = Array.from({ length: n }, () => ({ producer: randomProducer(), clock: ZERO_CLOCK }));
  }

  acquire(): Promise<Lane> {
    const lane = this.free.pop();
    return lane ? Promise.resolve(lane) : new Promise((resolve) => this.waiting.push(resolve));
  }

  release(lane: Lane): void {
    const next = this.waiting.shift();
    if (next) next(lane);
    else this.free.push(lane);
  }
}
