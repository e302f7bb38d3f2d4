import { ACK_TXN, CONTINUE_TXN, parseUuid, parseUuidAt, trailingUuidAt, ZERO_CLOCK, type ParsedUuid } from './uuid.js';

/** A document as read from a collection's journal, with its line's offsets. */
export interface SequencedDocument<T = unknown> {
  readonly journal: string;
  readonly begin: number;
  readonly end: number;
  readonly doc: T;
  /** Its line's JSON text, when the reader keeps it (CollectionReaderOptions.lines). */
  readonly line?: string;
}

/** A document's `_meta.uuid`, parsed: from the end of its line when it is there, without parsing the document. */
function uuidOf(d: SequencedDocument<unknown>, producer?: string): ParsedUuid | undefined {
  const line = d.line;
  const fast = line === undefined ? undefined : parseUuidAt(line, trailingUuidAt(line), producer);
  if (fast) return fast;
  const uuid = (d.doc as { _meta?: { uuid?: unknown } } | null)?._meta?.uuid;
  return typeof uuid === 'string' ? parseUuid(uuid) : undefined;
}

/**
 * Where a reader of one journal stands, in the shape of Gazette's consumer checkpoints: the
 * offset read through, and per producer the clock of its last ACK and the offset of its first
 * document still waiting for an ACK (-1 when none waits). JSON as it is.
 */
export interface JournalCheckpoint {
  readThrough: number;
  producers: Record<string, { lastAck: string; begin: number }>;
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
 *
 * `checkpoint()` and `restore()` carry the state across processes. A sequencer restored from a
 * checkpoint and fed the journal again from `replayFrom()` commits nothing before `readThrough`
 * (every document there is a duplicate or is waiting again) and from there on commits exactly
 * what the sequencer that took the checkpoint would have.
 */
export class Sequencer<T = unknown> {
  private readonly producers = new Map<string, ProducerState<T>>();
  /** Documents dropped as duplicates, and discarded by rollbacks. */
  duplicates = 0;
  rolledBack = 0;

  /** The producer of the last document, and its state: most lines of a journal are one producer's. */
  private last: { producer: string; st: ProducerState<T> } | undefined;

  /** Feeds the next document of the journal; returns what it commits (often nothing). */
  push(d: SequencedDocument<T>): SequencedDocument<T>[] {
    const out: SequencedDocument<T>[] = [];
    this.pushInto(d, out);
    return out;
  }

  /** `push`, adding what it commits to `out` (no array per document). */
  pushInto(d: SequencedDocument<T>, out: SequencedDocument<T>[]): void {
    const parsed = uuidOf(d, this.last?.producer);
    if (!parsed) {
      out.push(d);
      return;
    }
    let st: ProducerState<T> | undefined;
    if (this.last?.producer === parsed.producer) st = this.last.st;
    else {
      st = this.producers.get(parsed.producer);
      if (!st) this.producers.set(parsed.producer, (st = { acked: ZERO_CLOCK, pending: [] }));
      this.last = { producer: parsed.producer, st };
    }

    if (parsed.flags & ACK_TXN) {
      for (const p of st.pending) {
        if (p.clock <= parsed.clock) out.push(p.d);
        else this.rolledBack++;
      }
      st.pending = [];
      if (parsed.clock > st.acked) st.acked = parsed.clock;
      return;
    }
    if (parsed.clock <= st.acked) {
      this.duplicates++;
      return;
    }
    if (parsed.flags & CONTINUE_TXN) {
      st.pending.push({ d, clock: parsed.clock });
      return;
    }
    st.acked = parsed.clock;
    out.push(d);
  }

  /**
   * The state after every document pushed so far, all of whose committed documents were
   * consumed, given the offset read through (the end of the last document pushed).
   */
  checkpoint(readThrough: number): JournalCheckpoint {
    const producers: JournalCheckpoint['producers'] = {};
    for (const [id, st] of this.producers) producers[id] = { lastAck: st.acked, begin: st.pending[0]?.d.begin ?? -1 };
    return { readThrough, producers };
  }

  /**
   * The state part-way through the documents one ACK committed: `consumed` of `committed` were
   * consumed, and the ACK's line begins at `ackBegin`. Resuming from it reads the ACK again,
   * which commits the rest.
   */
  checkpointWithin(committed: readonly SequencedDocument<T>[], consumed: number, ackBegin: number): JournalCheckpoint {
    const cp = this.checkpoint(ackBegin);
    const last = committed[consumed - 1];
    const next = committed[consumed];
    // As the sequencer read it when it took `last` in (from the end of its line, when it could).
    const producer = last && next ? uuidOf(last) : undefined;
    if (!producer) return cp;
    // The rest wait again: clocks of one producer grow along its journal, so they all follow `last`.
    cp.producers[producer.producer] = { lastAck: producer.clock, begin: next!.begin };
    return cp;
  }

  /** Takes up a checkpoint's producers; feed the journal from `replayFrom(checkpoint)`. */
  restore(cp: JournalCheckpoint): void {
    this.producers.clear();
    this.last = undefined;
    for (const [id, p] of Object.entries(cp.producers)) this.producers.set(id, { acked: p.lastAck, pending: [] });
  }

  /** Documents read but not yet committed, across producers. */
  get pendingCount(): number {
    let n = 0;
    for (const st of this.producers.values()) n += st.pending.length;
    return n;
  }
}

/** Where to read a journal again to resume at a checkpoint: its oldest waiting document, or `readThrough`. */
export function replayFrom(cp: JournalCheckpoint): number {
  let at = cp.readThrough;
  for (const p of Object.values(cp.producers)) if (p.begin >= 0 && p.begin < at) at = p.begin;
  return at;
}

/** True for a transaction's ACK document, which readers of collections never see. */
export function isAck(doc: unknown): boolean {
  const uuid = (doc as { _meta?: { uuid?: unknown } } | null)?._meta?.uuid;
  const parsed = typeof uuid === 'string' ? parseUuid(uuid) : undefined;
  return parsed !== undefined && (parsed.flags & ACK_TXN) !== 0;
}
