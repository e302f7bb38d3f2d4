/** An idempotent producer's progress (Durable Streams `Producer-Id`/`-Epoch`/`-Seq`). */
export interface ProducerState {
  epoch: number;
  lastSeq: number;
  lastUpdated: number;
  /** Where the append of `lastSeq` landed, `[begin, end)`: a retry of it is answered with them. */
  begin?: number;
  end?: number;
}

/** Producer states idle longer than this are forgotten (as Kafka-style idempotence does). */
export const PRODUCER_STATE_TTL_MS = 7 * 24 * 3600 * 1000;

/** The producer states not yet idle past their time to live. */
export function pruneProducers(producers: Record<string, ProducerState> | undefined): Record<string, ProducerState> {
  const now = Date.now();
  return Object.fromEntries(Object.entries(producers ?? {}).filter(([, s]) => now - s.lastUpdated <= PRODUCER_STATE_TTL_MS));
}

/**
 * What the Durable Streams protocol keeps about a journal besides its spec and bytes:
 * lifetime, closure, fork ancestry and writer sequencing.
 */
export interface StreamState {
  createdAt: string;
  /** Sliding expiry: the journal expires this many seconds after its last read or append. */
  ttlSeconds?: number;
  /** Absolute expiry (ISO 8601). */
  expiresAt?: string;
  closed?: boolean;
  /** The producer append that closed the journal, so its retry is recognised. */
  closedBy?: { producerId: string; epoch: number; seq: number };
  /** A fork reads `[0, forkOffset)` from this journal and holds only what follows. */
  forkedFrom?: string;
  forkOffset?: number;
  /** The sub-offset the fork was created with, kept for idempotent re-creation. */
  forkSubOffset?: number;
  /** Deleted while forks still read from it: invisible, but its bytes are kept. */
  softDeleted?: boolean;
  producers?: Record<string, ProducerState>;
  /** The last `Stream-Seq` accepted (writer coordination; compared as strings). */
  lastSeq?: string;
  /**
   * How far the journal's history is known to be in its stores. A restart over a store listing
   * that ends earlier does not move the write head back (and reports the missing history).
   */
  persistedEnd?: number;
}
