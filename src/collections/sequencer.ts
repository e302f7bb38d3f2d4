import { ACK_TXN, CONTINUE_TXN, parseUuid, ZERO_CLOCK } from './uuid.js';

/** A document as read from a collection's journal, with its line's offsets. */
export interface SequencedDocument<T = unknown> {
  readonly journal: string;
  readonly begin: number;
  readonly end: number;
  readonly doc: T;
}

interface ProducerState<T> {
  /** Clock of the last ACK (or outside-transaction document) seen. */
  acked: string;
  /** Documents waiting for an ACK, with their clocks. */
  pending: { d: SequencedDocument<T>; clock: string }[];
}

/**
 * Turns one journal's documents into its committed documents, following Gazette's
 * transaction semantics per producer:
 * - a document with a clock at or below the producer's last ACK is a duplicate (a retry), dropped;
 * - CONTINUE_TXN documents wait for an ACK of their producer;
 * - an ACK commits the waiting documents with clocks up to its own, in journal order, and
 *   discards the rest (a rolled-back transaction); ACKs themselves are never yielded;
 * - OUTSIDE_TXN documents commit at once.
 * Documents without a `_meta.uuid` are not part of the protocol and pass through as committed.
 */
export class Sequencer<T = unknown> {
  private readonly producers = new Map<string, ProducerState<T>>();
  /** Documents dropped as duplicates, and discarded by rollbacks. */
  duplicates = 0;
  rolledBack = 0;

  /** Feeds the next document of the journal; returns what it commits (often nothing). */
  push(d: SequencedDocument<T>): SequencedDocument<T>[] {
    const uuid = (d.doc as { _meta?: { uuid?: unknown } } | null)?._meta?.uuid;
    const parsed = typeof uuid === 'string' ? parseUuid(uuid) : undefined;
    if (!parsed) return [d];
    let st = this.producers.get(parsed.producer);
    if (!st) this.producers.set(parsed.producer, (st = { acked: ZERO_CLOCK, pending: [] }));

    if (parsed.flags & ACK_TXN) {
      const out: SequencedDocument<T>[] = [];
      for (const p of st.pending) {
        if (p.clock <= parsed.clock) out.push(p.d);
        else this.rolledBack++;
      }
      st.pending = [];
      if (parsed.clock > st.acked) st.acked = parsed.clock;
      return out;
    }
    if (parsed.clock <= st.acked) {
      this.duplicates++;
      return [];
    }
    if (parsed.flags & CONTINUE_TXN) {
      st.pending.push({ d, clock: parsed.clock });
      return [];
    }
    st.acked = parsed.clock;
    return [d];
  }

  /** Documents read but not yet committed, across producers. */
  get pendingCount(): number {
    let n = 0;
    for (const st of this.producers.values()) n += st.pending.length;
    return n;
  }
}

/** True for a transaction's ACK document, which readers of collections never see. */
export function isAck(doc: unknown): boolean {
  const uuid = (doc as { _meta?: { uuid?: unknown } } | null)?._meta?.uuid;
  const parsed = typeof uuid === 'string' ? parseUuid(uuid) : undefined;
  return parsed !== undefined && (parsed.flags & ACK_TXN) !== 0;
}
