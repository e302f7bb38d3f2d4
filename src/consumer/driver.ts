/**
 * The consumer transaction driver: Gazette's consumer lifecycle (consumer/transaction.go) over
 * collections, a `Store` and an `Application`.
 *
 * Lifecycle:
 * 1. Restore: the store's last checkpoint; its ACK intents are appended again (they commit
 *    what the last committed transaction published, if a crash kept them from landing, and roll
 *    back anything a later, uncommitted transaction published into those journals).
 * 2. Read: committed documents of the source collections, resumed exactly at the checkpoint.
 *    A transaction opens with its first document and takes more until the input stalls
 *    (`stallMs` with no line read: lines of a transaction whose ACK is still to come count), `maxTxnMs` has passed since it opened, or it holds
 *    `maxTxnDocs` documents (a bound on what a transaction stages in memory); with
 *    `closeOnCommit`, also as soon as the previous transaction has committed, so that
 *    transactions grow to the commit's latency (small while live, large while backfilling).
 * 3. Consume: the application stages state in its store and publishes documents.
 * 4. Finalize: the application's last word. Once its state is staged, the read positions are
 *    taken and the store's commit takes the staged state; the application may still be
 *    publishing (`Finalized`: a derivation's last lambda calls). Once it has published all, the
 *    documents are combined by key and routed, and the ACK intents complete the checkpoint.
 * 5. Commit: the published documents are appended (uncommitted); then the store commits state +
 *    checkpoint atomically; then the ACKs are appended, which make the documents visible.
 * The next transaction reads and consumes while the previous one publishes and commits; its
 * documents are taken after the previous transaction's (clocks in order); it appends its own
 * documents only after the previous transaction's ACKs have landed (an ACK of this producer
 * would otherwise roll them back), and commits only after the previous commit.
 *
 * What a crash (SIGKILL) leaves, and why recovery is exact:
 * - mid-read or mid-consume (crash point `consumer.read`): nothing of the open transaction is
 *   stored; the restart reads again from the last checkpoint and consumes the same documents.
 * - after some documents were published (`consumer.append`) or just before the store commit
 *   (`consumer.commit`): the documents are in their journals but uncommitted. The restart
 *   appends the last checkpoint's ACK intents, at the last committed clock: readers discard
 *   everything after it in those journals. In any other journal nothing ever commits them: each
 *   run publishes under a producer of its own, and the crashed run's producer never writes
 *   again. The documents are derived again from the same input and published by the new run.
 * - after the store commit, before or between the ACKs (`consumer.committed`, `consumer.ack`):
 *   the store holds the new state and checkpoint with its ACK intents; the restart appends
 *   them; ACKs that had landed are duplicates, which readers ignore.
 * So each source document's effect is in the store exactly once, and each published document
 * is committed exactly once: readers of the output see every transaction whole, once.
 * The store's atomicity is the only atomicity needed; journals need none across each other.
 */
import { randomUUID } from 'node:crypto';
import type { BrokerClient } from '../client/broker-client.js';
import type { JournalWriter } from '../client/journal-writer.js';
import type { Collection } from '../collections/collection.js';
import { Publisher, writeAcks } from '../collections/publisher.js';
import { CollectionReader, type ReadCheckpoint } from '../collections/reader.js';
import { Router } from '../collections/route.js';
import type { SequencedDocument } from '../collections/sequencer.js';
import { namedProducer, ZERO_CLOCK } from '../collections/uuid.js';
import { crashPoint } from '../crashpoints.js';
import type { Application, ConsumerCheckpoint, Store, Transaction } from './types.js';

export interface ConsumerOptions<T> {
  /** Names the consumer (its publishing producer id derives from it and a nonce of the run). */
  readonly name: string;
  readonly client: BrokerClient;
  /** Where published documents and ACKs go (an `Appender` over HTTP, in any process). */
  readonly writer: JournalWriter;
  /** The collections of the catalog, to publish to. */
  readonly collections: ReadonlyMap<string, Collection>;
  /** Collections read. */
  readonly sources: readonly string[];
  readonly store: Store;
  readonly app: Application<T>;
  /** A transaction ends when its sources read nothing (no document, no ACK) for this long. Default 20 ms. */
  readonly stallMs?: number;
  /** …or when it has been open this long. Default 1000 ms. */
  readonly maxTxnMs?: number;
  /** …or when it has consumed this many documents. Default unbounded. */
  readonly maxTxnDocs?: number;
  /**
   * …or (when set) when it has consumed this many documents, a bound that doubles for the next
   * transaction each time a transaction reaches it, and comes back to this value when one ends
   * because its input stalled: a burst after an idle spell commits its first documents soon,
   * and a backfill's transactions grow (TCP's slow start). Default: no such bound.
   */
  readonly firstTxnDocs?: number;
  /**
   * …or (when true) as soon as the previous transaction has committed: the store is never idle
   * while input waits, and transactions grow as large as its commits are slow. Default false.
   */
  readonly closeOnCommit?: boolean;
  /** Keep reading live documents (default true); false ends once every source is read through. */
  readonly follow?: boolean;
  /** Stores whose fragments the readers open themselves (see ReaderOptions.stores); default none: all through the broker. */
  readonly stores?: readonly string[];
  /** Stops the consumer: the open transaction is abandoned (its input is read again at restart). */
  readonly signal?: AbortSignal;
  /**
   * Told where the reads stand once it is all committed and acknowledged: after each
   * transaction's ACKs are appended (its checkpoint's sources), and when the consumer waits
   * for input with nothing open or uncommitted (where the readers stand then).
   */
  readonly onProgress?: (sources: Record<string, ReadCheckpoint>) => void;
}

/**
 * Runs a consumer until its sources are read through (`follow: false`) or `signal` aborts;
 * resolves once every transaction it committed has its ACKs appended. Rejects on the first
 * failure of a read, the application, an append or the store: restart it to recover.
 */
export async function runConsumer<T>(opts: ConsumerOptions<T>): Promise<void> {
  const { store, app, writer } = opts;
  const restored = await store.restoreCheckpoint();
  if (restored) await writeAcks(writer, restored.ackIntents, 'consumer');
  // A producer of this run only, as Gazette's publishers: documents that a crashed run left
  // uncommitted in a journal its last checkpoint's ACKs do not reach stay uncommitted forever.
  // Under the old producer, a later fence ACK at a newer committed clock would commit them.
  const publisher = new Publisher(writer, namedProducer(`consumer/${opts.name}/${randomUUID()}`), ZERO_CLOCK, { crashLabel: 'consumer' });
  const readers = opts.sources.map((collection) => ({
    collection,
    reader: new CollectionReader<T>(opts.client, collection, {
      follow: opts.follow ?? true,
      // Applications may hand documents on as text (a derivation's lambdas parse them in their worker).
      lines: true,
      ...(opts.stores ? { stores: opts.stores } : {}),
      ...(restored?.sources[collection] ? { checkpoint: restored.sources[collection] } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    }),
  }));
  const stallMs = opts.stallMs ?? 20;
  const maxTxnMs = opts.maxTxnMs ?? 1000;
  const maxTxnDocs = opts.maxTxnDocs ?? Infinity;
  let txnDocs = Math.min(opts.firstTxnDocs ?? Infinity, maxTxnDocs);
  /** The previous transaction's commit and ACKs. */
  let previous: Promise<void> = Promise.resolve();
  /** The previous transaction's documents, taken by the publisher (its clocks and ACK intents). */
  let encoded: Promise<unknown> = Promise.resolve();
  /** Whether the previous transaction's commit has settled. */
  let committed = true;
  let failure: unknown;
  /** Resolves at the first failure of a commit, so that a read waiting for input stops waiting. */
  let failed!: () => void;
  const failing = new Promise<void>((resolve) => (failed = resolve));
  let turn = 0;

  /** Lines read by every source so far: input that arrives without committing anything yet counts too. */
  const linesRead = () => readers.reduce((n, r) => n + r.reader.linesRead, 0);
  /** The next committed document of any source (taking turns) if one is at hand now, without a promise. */
  const nextNow = (): { d: SequencedDocument<T>; collection: string } | undefined => {
    if (failure !== undefined || opts.signal?.aborted) return undefined;
    for (let i = 0; i < readers.length; i++) {
      const r = readers[(turn + i) % readers.length]!;
      const d = r.reader.takeNow();
      if (d) {
        turn = (turn + i + 1) % readers.length;
        return { d, collection: r.collection };
      }
    }
    return undefined;
  };
  /**
   * The next committed document of any source (taking turns), or undefined at the end or, given
   * `end`, when the input stalls (no line read for `stallMs`) or `end` (epoch ms) passes first.
   */
  const next = async (end?: number): Promise<{ d: SequencedDocument<T>; collection: string } | undefined> => {
    let read = linesRead();
    let deadline = end === undefined ? undefined : Math.min(Date.now() + stallMs, end);
    for (;;) {
      if (failure !== undefined || opts.signal?.aborted) return undefined;
      const now = nextNow();
      if (now) return now;
      const open = readers.filter((r) => !r.reader.done);
      if (open.length === 0) return undefined;
      // Lines that commit nothing yet (another producer's transaction, its ACK still to come) are
      // input arriving, not a stall: while a backfill reads a large ingested transaction, its
      // documents come out only at its ACK.
      if (deadline !== undefined && linesRead() !== read) {
        read = linesRead();
        deadline = Math.min(Date.now() + stallMs, end!);
      }
      const wait = deadline === undefined ? undefined : deadline - Date.now();
      if (wait !== undefined && wait <= 0) return undefined;
      if (deadline === undefined && opts.onProgress) {
        // Idle between transactions: everything handed out so far was consumed by transactions up to
        // the last one, so once it is acknowledged the readers' present positions are committed
        // progress. Taken now and reported then, without waiting for it: a document may arrive
        // meanwhile, and the next transaction must not wait for the last one's commit to open.
        const sources: Record<string, ReadCheckpoint> = {};
        for (const r of readers) sources[r.collection] = r.reader.checkpoint();
        const report = opts.onProgress;
        previous.then(
          () => failure === undefined && report(sources),
          () => undefined,
        );
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        ...open.map((r) => r.reader.ready()),
        failing,
        ...(wait === undefined ? [] : [new Promise((resolve) => (timer = setTimeout(resolve, wait)))]),
      ]);
      clearTimeout(timer);
    }
  };

  try {
    for (;;) {
      const first = await next();
      if (!first) break;
      const router = new Router(opts.collections);
      let published = 0;
      const txn: Transaction = {
        publish: (collection, doc, opts) => router.add(collection, doc, published++, opts?.owned === true),
        publishEncoded: (part) => router.addEncoded(part),
      };
      const opened = Date.now();
      let consumed = 0;
      let stalled = false;
      for (let item: typeof first | undefined = first; item; ) {
        // Awaited only when it returns a promise, and the next document taken without one when it
        // is at hand: a backfill goes through its documents without a promise per document.
        const consuming = app.consume(item.d, item.collection, txn);
        if (consuming !== undefined) await consuming;
        crashPoint('consumer.read');
        const close = Date.now() >= opened + maxTxnMs || ++consumed >= txnDocs || (opts.closeOnCommit === true && committed);
        item = close ? undefined : (nextNow() ?? (await next(opened + maxTxnMs)));
        stalled = !close && item === undefined && Date.now() < opened + maxTxnMs;
      }
      if (opts.firstTxnDocs !== undefined) txnDocs = consumed >= txnDocs ? Math.min(txnDocs * 2, maxTxnDocs) : stalled ? Math.min(opts.firstTxnDocs, maxTxnDocs) : txnDocs;
      if (failure !== undefined || opts.signal?.aborted) break;
      const finalized = await app.finalize?.(txn);
      const publishing = finalized?.publishing;
      // Awaited once the previous transaction's documents are taken: not left unhandled meanwhile.
      publishing?.catch(() => undefined);

      // Where the reads stand is taken now, before the next transaction reads anything. The
      // documents are taken after the previous transaction's (the publisher's clocks and fences
      // go in order), once the application has published them all (`Finalized`).
      const sources: Record<string, ReadCheckpoint> = {};
      for (const r of readers) sources[r.collection] = r.reader.checkpoint();
      const before = encoded;
      const mine = (encoded = (async () => {
        await before;
        await publishing;
        const routed = router.drain();
        return { routed, bodies: publisher.encode(routed), ackIntents: publisher.commit(), lastCommitted: publisher.lastCommitted };
      })());
      const after = previous;
      const ready = (async (): Promise<ConsumerCheckpoint> => {
        // The previous commit's outcome first: a failure of this transaction does not cut it short.
        await after;
        const { routed, bodies, ackIntents, lastCommitted } = await mine;
        await publisher.ensure(routed);
        await publisher.append(bodies);
        crashPoint('consumer.commit');
        return { sources, ackIntents, lastCommitted };
      })();
      // Both are awaited by the commit, unless the store fails before it takes them up.
      mine.catch(() => undefined);
      ready.catch(() => undefined);
      committed = false;
      previous = store.commit(ready).then(async () => {
        crashPoint('consumer.committed');
        await writeAcks(writer, (await mine).ackIntents, 'consumer');
        opts.onProgress?.(sources);
      });
      const commit = previous;
      void commit.then(
        () => void (previous === commit && (committed = true)),
        () => undefined,
      );
      previous.catch((err: unknown) => {
        failure ??= err;
        failed();
      });
    }
    await previous;
    if (failure !== undefined) throw failure;
  } finally {
    // A commit under way settles before the consumer stops (its store may be closed next).
    await previous.catch(() => undefined);
    for (const r of readers) r.reader.close();
  }
}
