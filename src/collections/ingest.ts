import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { crashPoint } from '../crashpoints.js';
import { KeyLock } from '../key-lock.js';
import { InletError } from '../errors.js';
import { validateJournalName } from '../protocol/names.js';
import type { IngestResult } from '../protocol/collections.js';
import type { JournalSpecInput } from '../protocol/journal-spec.js';
import type { Collection } from './collection.js';
import { Combiner } from '../doc/combine.js';
import { getPointer } from '../doc/json.js';
import { checkPartitionValue, partitionJournal, partitionLabels, type PartitionValue } from './partitions.js';
import { TxnLog, type ClientState } from './txn-log.js';
import { ACK_TXN, buildUuid, ClockSource, CONTINUE_TXN, namedProducer, randomProducer, ZERO_CLOCK } from './uuid.js';

/** What ingestion needs of the broker: journals that exist, and durable appends to them. */
export interface JournalWriter {
  /** Creates the journal unless it exists (an existing journal is used as it is). */
  ensure(spec: JournalSpecInput): Promise<void>;
  /** Appends NDJSON; resolves with the journal's end offset once durable. */
  append(journal: string, body: Buffer): Promise<number>;
  /** Throws (503) while the lake cannot keep up. */
  checkBacklog(): void;
}

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
 * written at restart.
 */
export class Ingester {
  private readonly clocks = new ClockSource();
  /** One transaction at a time per producer: its ACKs must not commit another's documents. */
  private readonly locks = new KeyLock();
  /** Transactions whose ACKs (or rollback ACKs) failed to append: retried until they land. */
  private readonly unsettled = new Map<string, { producer: string; clock: string; journals: string[] }>();
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
      this.unsettled.set(rec.txn, { producer: rec.producer, clock: rec.op === 'commit' ? rec.clock : rec.rollback, journals: rec.journals });
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
    const routed: Routed = { journals: new Map(), received: 0, stored: 0 };
    for (const [name, docs] of Object.entries(body)) {
      const c = this.collections.get(name);
      if (!c) {
        const known = [...this.collections.keys()].join(', ') || 'none';
        throw new InletError('COLLECTION_NOT_FOUND', `collection ${JSON.stringify(name)} is not in the catalog (collections: ${known})`);
      }
      if (!Array.isArray(docs)) throw new InletError('BAD_REQUEST', `${name}: must be a list of documents`);
      const combiner = new Combiner(c.schema, c.spec.key);
      docs.forEach((doc, i) => {
        const why = c.schema.validate(doc);
        if (why !== null) {
          throw new InletError('INVALID_DOCUMENT', `${name}[${i}]: ${why}`, { details: { collection: name, index: i } });
        }
        for (const ptr of c.spec.key) {
          if (getPointer(doc, ptr) === undefined) {
            throw new InletError('INVALID_DOCUMENT', `${name}[${i}]: key ${ptr} is missing`, { details: { collection: name, index: i } });
          }
        }
        try {
          combiner.add(doc);
        } catch (err) {
          throw err instanceof InletError ? new InletError(err.code, `${name}[${i}]: ${err.message}`, { details: { collection: name, index: i } }) : err;
        }
      });
      routed.received += docs.length;
      const combined = combiner.drain();
      routed.stored += combined.length;
      combined.forEach((doc, i) => {
        // A reduction may produce what no single document was: it must still be valid.
        if (combined.length < docs.length) {
          const why = c.schema.validate(doc);
          if (why !== null) throw new InletError('INVALID_DOCUMENT', `${name}: a combined document is invalid: ${why}`);
        }
        const values = c.spec.partitionFields.map((f) =>
          checkPartitionValue(name, f, c.spec.projections[f]!.location, getPointer(doc, c.spec.projections[f]!.location), i),
        );
        const journal = partitionJournal(name, c.spec.partitionFields, values);
        try {
          validateJournalName(journal);
        } catch (err) {
          throw new InletError('INVALID_DOCUMENT', `${name}[${i}]: its partition values make no valid journal name: ${(err as Error).message}`, {
            details: { collection: name, index: i },
          });
        }
        let target = routed.journals.get(journal);
        if (!target) routed.journals.set(journal, (target = { collection: c, values, docs: [] }));
        target.docs.push(doc as Record<string, unknown>);
      });
    }
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
    const journals = [...routed.journals.keys()].sort();
    for (const [name, t] of routed.journals) {
      await this.writer.ensure({
        name,
        labels: partitionLabels(t.collection.spec.name, t.collection.spec.partitionFields, t.values),
        contentType: 'application/x-ndjson',
        ...(t.collection.spec.journals.fragment ? { fragment: t.collection.spec.journals.fragment } : {}),
      });
    }
    // Each journal's part opens with an ACK at the producer's last committed clock: a fence that
    // discards anything an earlier failed transaction of this producer left uncommitted there.
    const fence = ackLine(producer, rollback);
    const bodies = new Map<string, Buffer>();
    let clock = ZERO_CLOCK;
    for (const name of journals) {
      let text = fence;
      for (const doc of routed.journals.get(name)!.docs) {
        clock = this.clocks.next();
        // `_meta` is the broker's: whatever a client put there is replaced.
        text += JSON.stringify({ ...doc, _meta: { uuid: buildUuid(producer, clock, CONTINUE_TXN) } }) + '\n';
      }
      bodies.set(name, Buffer.from(text));
    }

    const txn = randomUUID();
    await this.settle();
    await this.log.write({ op: 'prepare', txn, producer, rollback, journals });
    const docEnds: Record<string, number> = {};
    try {
      await Promise.all(
        journals.map(async (name) => {
          docEnds[name] = await this.writer.append(name, bodies.get(name)!);
          crashPoint('ingest.append');
        }),
      );
    } catch (err) {
      // Nothing is committed: roll back whatever reached a journal, so no later ACK of this producer commits it.
      await this.finish(txn, producer, rollback, journals).catch(() => undefined);
      throw err;
    }

    const result: IngestResult = { journals: docEnds, received: routed.received, stored: routed.stored };
    const client: ClientState | undefined = ref ? { id: ref.id, producer, seq: ref.seq, clock, at: Date.now(), response: { ...result, acks: 'pending' } } : undefined;
    try {
      await this.log.write({ op: 'commit', txn, producer, clock, journals, ...(client ? { client } : {}) });
    } catch (err) {
      // Not committed after all: undo it like a failed append.
      await this.finish(txn, producer, rollback, journals).catch(() => undefined);
      throw err;
    }
    crashPoint('ingest.commit');
    if (lane) lane.clock = clock;
    // Committed: the answer is success even if ACKs must be retried; they are, until they land.
    let ends: Record<string, number>;
    try {
      ends = await this.finish(txn, producer, clock, journals);
    } catch {
      return { ...result, acks: 'pending' };
    }
    if (client) await this.log.write({ op: 'client', state: { ...client, response: { ...result, journals: ends } } }, false);
    return { ...result, journals: ends };
  }

  /** Writes a transaction's ACKs (or rollback ACKs) and marks it done; on failure keeps retrying them. */
  private async finish(txn: string, producer: string, clock: string, journals: string[]): Promise<Record<string, number>> {
    try {
      const ends = await this.writeAcks(producer, clock, journals);
      await this.log.write({ op: 'done', txn }, false);
      return ends;
    } catch (err) {
      this.logger.error({ err, txn }, 'appending ingest ACKs failed; retrying');
      this.unsettled.set(txn, { producer, clock, journals });
      this.retryTimer ??= setInterval(() => void this.settle().catch(() => undefined), 2000).unref();
      throw err;
    }
  }

  /** Retries the ACKs of unsettled transactions, before any new transaction may commit. */
  private async settle(): Promise<void> {
    for (const [txn, u] of this.unsettled) {
      await this.writeAcks(u.producer, u.clock, u.journals);
      await this.log.write({ op: 'done', txn }, false);
      this.unsettled.delete(txn);
    }
    if (this.unsettled.size === 0 && this.retryTimer) {
      clearInterval(this.retryTimer);
      this.retryTimer = undefined;
    }
  }

  /**
   * Appends an ACK at `clock` to each journal. Journals that can take no more appends (deleted,
   * closed) are skipped: no reader can see a later document there that the ACK would guard.
   */
  private async writeAcks(producer: string, clock: string, journals: string[]): Promise<Record<string, number>> {
    const ack = Buffer.from(ackLine(producer, clock));
    const ends: Record<string, number> = {};
    await Promise.all(
      journals.map(async (name) => {
        try {
          ends[name] = await this.writer.append(name, ack);
          crashPoint('ingest.ack');
        } catch (err) {
          if (err instanceof InletError && PERMANENT.has(err.code)) return;
          throw err;
        }
      }),
    );
    return ends;
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

/** Append failures no retry can fix: the journal takes no more appends. */
const PERMANENT = new Set(['JOURNAL_NOT_FOUND', 'STREAM_CLOSED', 'OFFSET_GONE']);

function ackLine(producer: string, clock: string): string {
  return JSON.stringify({ _meta: { uuid: buildUuid(producer, clock, ACK_TXN), ack: true } }) + '\n';
}

interface Routed {
  journals: Map<string, { collection: Collection; values: PartitionValue[]; docs: Record<string, unknown>[] }>;
  received: number;
  stored: number;
}
