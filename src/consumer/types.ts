import type { AckIntents } from '../collections/publisher.js';
import type { ReadCheckpoint } from '../collections/reader.js';
import type { EncodedPart } from '../collections/route.js';
import type { SequencedDocument } from '../collections/sequencer.js';

/**
 * What a consumer stores with its state, atomically: where its reads stand and the ACKs of its
 * last transaction's publishes, as Gazette's consumer checkpoint. JSON as it is.
 */
export interface ConsumerCheckpoint {
  /** Per source collection, per journal: where the read stands. */
  readonly sources: Record<string, ReadCheckpoint>;
  /** The ACKs that commit the transaction's published documents; appended again at every restart. */
  readonly ackIntents: AckIntents;
  /** The clock those ACKs carry: the publisher's last committed clock. */
  readonly lastCommitted: string;
}

/**
 * Where a consumer keeps its state and checkpoint: a file, a derivation's register database, the
 * target table of a materialization (with a fence, so that a stale process cannot commit).
 * The application stages its state in the store as it consumes; the driver commits it.
 */
export interface Store {
  /** The checkpoint of the last commit, or undefined for a consumer that never committed. */
  restoreCheckpoint(): Promise<ConsumerCheckpoint | undefined>;
  /**
   * Commits the state staged so far with the checkpoint `ready` resolves with, atomically: once
   * it resolves, a restore returns both; a crash before leaves the previous commit. The staged
   * state is taken when `commit` is called (the next transaction may stage more meanwhile);
   * `ready` resolves once the transaction's documents are appended, and nothing is made durable
   * before; if it rejects, nothing is committed.
   */
  commit(ready: Promise<ConsumerCheckpoint>): Promise<void>;
}

/** What a transaction offers the application while it consumes. */
export interface Transaction {
  /**
   * Publishes a document of a collection of the catalog. It is validated now (errors are
   * thrown here), combined with the transaction's other documents of its key, and becomes
   * visible to readers only when the transaction commits. With `owned`, the caller gives `doc`
   * up: it shares nothing with what the caller keeps, and the transaction holds it without a copy.
   */
  publish(collection: string, doc: unknown, opts?: { owned?: boolean }): void;
  /**
   * Publishes documents that were validated, combined with every other document of their keys
   * that this transaction publishes, and encoded elsewhere (a derivation's lambda worker): they
   * are written as they are, under the transaction's producer and clocks.
   */
  publishEncoded(part: EncodedPart): void;
}

/** The application a consumer runs: Gazette's Application, cut to what derivations and materializations need. */
export interface Application<T = unknown> {
  /** Consumes one committed document of a source collection (`collection`), staging state in its store. */
  consume(doc: SequencedDocument<T>, collection: string, txn: Transaction): void | Promise<void>;
  /**
   * Called once as the transaction ends, before it commits: publish what the transaction's state
   * implies. Resolves once the transaction's state is staged in the store (the next transaction
   * opens then), possibly with the rest of its publishing still under way (`Finalized`).
   */
  finalize?(txn: Transaction): void | Promise<void | Finalized>;
}

/** What `finalize` may leave under way while the next transaction reads. */
export interface Finalized {
  /** Settles once everything the transaction publishes is published (to `txn`); a rejection fails the transaction. */
  readonly publishing: Promise<void>;
}
