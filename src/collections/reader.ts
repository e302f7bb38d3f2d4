import type { BrokerClient } from '../client/broker-client.js';
import { readDocumentBatches } from '../readers/documents.js';
import { SelectorReader, type SelectorReaderOptions } from '../readers/selector-reader.js';
import type { Document } from '../readers/types.js';
import { collectionSelector, type PartitionValue } from './partitions.js';
import { replayFrom, Sequencer, type JournalCheckpoint, type SequencedDocument } from './sequencer.js';

/** Where a read of collections stands: a checkpoint per journal read (its "sources", in Gazette's words). JSON as it is. */
export type ReadCheckpoint = Record<string, JournalCheckpoint>;

export interface CollectionReaderOptions extends Omit<SelectorReaderOptions, 'offset' | 'offsets'> {
  /** Only the partitions whose fields have these values. */
  partitions?: Record<string, PartitionValue>;
  /** Resume where a reader's `checkpoint()` stood; journals it does not name are read from their beginning. */
  checkpoint?: ReadCheckpoint;
  /**
   * Documents keep their line's JSON text (`line`), and each is parsed only when its `doc` is
   * first read: for consumers that hand most documents on as text (a line that is not JSON then
   * fails where `doc` is read, with the same INVALID_CONTENT error).
   */
  lines?: boolean;
}

/**
 * The committed documents of a collection, from every partition journal (history straight
 * from the lake, then live when following): uncommitted and rolled-back documents, ACKs and
 * duplicates of retried transactions never appear. Each journal's documents keep their order.
 *
 * `checkpoint()`, called between documents, says where the reader stands: a reader resumed
 * from it (`checkpoint` option) yields exactly the committed documents after those handed out
 * so far, whatever was open when it was taken (another producer's transaction, or the rest of
 * the documents one ACK committed).
 */
export class CollectionReader<T = unknown> implements AsyncIterable<SequencedDocument<T>> {
  /** Per journal read. */
  private readonly journals = new Map<string, JournalState<T>>();
  /** The journal of the last line fed (lines come in runs of one journal). */
  private last: JournalState<T> | undefined;
  /** What the last line fed committed (the batch's documents). */
  private readonly committed: SequencedDocument<T>[] = [];
  /** Documents one ACK committed, handed out one at a time. */
  private batch: { docs: SequencedDocument<T>[]; consumed: number; ackBegin: number } | undefined;
  /** Documents of one chunk, read and parsed, fed to their sequencer one at a time as `take` goes. */
  private parsed: Document<T>[] = [];
  private fed = 0;
  private readonly source: AsyncIterator<Document<T>[]>;
  /** A pull of the source that `take` stopped waiting for: the next `take` picks it up. */
  private pull: Promise<IteratorResult<Document<T>[]>> | undefined;
  /** The pull's outcome once it has settled, so `take(0)` answers without waiting a timer. */
  private pulled: { value: IteratorResult<Document<T>[]> } | { error: unknown } | undefined;
  private readonly abort = new AbortController();
  private readonly restored: ReadCheckpoint;
  /** True once the source has ended (not following, and every journal read to its write head). */
  done = false;
  /** Lines handed to the sequencers so far: documents, ACKs and duplicates alike. */
  linesRead = 0;

  constructor(client: BrokerClient, collection: string, opts: CollectionReaderOptions = {}) {
    this.restored = opts.checkpoint ?? {};
    const offsets: Record<string, number> = {};
    for (const [journal, cp] of Object.entries(this.restored)) offsets[journal] = replayFrom(cp);
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.abort.signal]) : this.abort.signal;
    const reader = new SelectorReader(client, collectionSelector(collection, opts.partitions), { ...opts, offset: 0, offsets, signal });
    this.source = readDocumentBatches<T>(reader, { lines: opts.lines === true })[Symbol.asyncIterator]();
  }

  /**
   * The next committed document; undefined when the read has ended (`done`) or, given `waitMs`,
   * when none was committed within it. A document waited for in vain is not lost: a later
   * `take` returns it, and `checkpoint()` meanwhile counts only documents handed out.
   */
  take(waitMs?: number): Promise<SequencedDocument<T> | undefined> {
    return this.stepWaiting(waitMs);
  }

  /**
   * `take(0)` without a promise: the next committed document if one is at hand now (read and
   * parsed already), else undefined. For a consumer's loop, which calls it once per document.
   */
  takeNow(): SequencedDocument<T> | undefined {
    for (;;) {
      if (this.batch && this.batch.consumed < this.batch.docs.length) return this.batch.docs[this.batch.consumed++];
      if (this.fed === this.parsed.length) {
        if (this.done) return undefined;
        this.startPull();
        if (!this.pulled) return undefined;
        if ('error' in this.pulled) throw this.pulled.error;
        if (!this.nextChunk(this.pulled.value)) return undefined;
      }
      this.feed();
    }
  }

  private async stepWaiting(waitMs: number | undefined): Promise<SequencedDocument<T> | undefined> {
    const deadline = waitMs === undefined ? undefined : Date.now() + waitMs;
    for (;;) {
      if (this.batch && this.batch.consumed < this.batch.docs.length) return this.batch.docs[this.batch.consumed++];
      if (this.fed === this.parsed.length) {
        if (this.done) return undefined;
        const pull = this.startPull();
        let next: IteratorResult<Document<T>[]> | undefined;
        if (this.pulled) {
          if ('error' in this.pulled) throw this.pulled.error;
          next = this.pulled.value;
        } else if (waitMs === 0) {
          // Nothing read yet: say so now. (Racing a 0 ms timer cost a timer tick per call: with two
          // sources, one idle, a transaction read one document per millisecond.)
          return undefined;
        } else {
          next = deadline === undefined ? await pull : await raceDeadline(pull, deadline);
          if (next === undefined) return undefined;
        }
        if (!this.nextChunk(next)) return undefined;
      }
      this.feed();
    }
  }

  /** Takes up a pull's result: false at the end of the read. */
  private nextChunk(next: IteratorResult<Document<T>[]>): boolean {
    this.pull = undefined;
    this.pulled = undefined;
    if (next.done) {
      this.done = true;
      return false;
    }
    this.parsed = next.value;
    this.fed = 0;
    // Read-ahead of one chunk: the next one is read and parsed while this one is handed out,
    // so that `take(0)` rarely finds nothing at a chunk's end. The sequencers are fed in
    // `take` only, so `checkpoint()` still counts documents handed out, never those read ahead.
    void this.startPull();
    return true;
  }

  /** Feeds the next parsed line to its journal's sequencer; what it commits becomes the batch handed out. */
  private feed(): void {
    const d = this.parsed[this.fed++]!;
    this.linesRead++;
    let j = this.last;
    if (j?.journal !== d.journal) {
      j = this.journals.get(d.journal);
      if (!j) {
        const seq = new Sequencer<T>();
        const cp = this.restored[d.journal];
        if (cp) seq.restore(cp);
        this.journals.set(d.journal, (j = { journal: d.journal, seq, readThrough: 0, restoredThrough: cp?.readThrough ?? 0 }));
      }
      this.last = j;
    }
    // Called once the last batch is handed out: its array is taken up again.
    const committed = this.committed;
    committed.length = 0;
    this.batch = undefined;
    j.seq.pushInto(d, committed);
    // Lines before the restored read-through only rebuild state: what they committed was handed out before.
    if (d.end <= j.restoredThrough) committed.length = 0;
    j.readThrough = d.end;
    if (committed.length > 0) this.batch = { docs: committed, consumed: 0, ackBegin: d.begin };
  }

  /**
   * Resolves once `take` may have something at once: a document read (which may or may not
   * commit anything), or the end of the read. Lets one wait on several readers.
   */
  ready(): Promise<void> {
    if (this.done || this.fed < this.parsed.length || (this.batch && this.batch.consumed < this.batch.docs.length)) return Promise.resolve();
    return this.startPull().then(
      () => undefined,
      () => undefined,
    );
  }

  /** The pull under way (one at a time), started if there is none. */
  private startPull(): Promise<IteratorResult<Document<T>[]>> {
    if (this.pull) return this.pull;
    const pull = (this.pull = this.source.next());
    pull.then(
      (value) => void (this.pull === pull && (this.pulled = { value })),
      (error: unknown) => void (this.pull === pull && (this.pulled = { error })),
    );
    return pull;
  }

  /** Where the reader stands after the documents handed out so far. */
  checkpoint(): ReadCheckpoint {
    const out: ReadCheckpoint = { ...this.restored };
    for (const [journal, { seq, readThrough: at, restoredThrough }] of this.journals) {
      // Still replaying up to the restored read-through: the restored checkpoint stands as it is.
      if (at < restoredThrough) continue;
      const b = this.batch;
      out[journal] =
        b && b.docs[0]!.journal === journal && b.consumed < b.docs.length ? seq.checkpointWithin(b.docs, b.consumed, b.ackBegin) : seq.checkpoint(at);
    }
    return structuredClone(out);
  }

  /** Stops reading; a pending `take` resolves undefined. */
  close(): void {
    this.abort.abort();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<SequencedDocument<T>> {
    try {
      for (let d = await this.take(); d !== undefined; d = await this.take()) yield d;
    } finally {
      this.close();
    }
  }
}

/** A journal a reader reads: its sequencer, the end of the last line fed to it, and the read-through it was restored at (0 if none). */
interface JournalState<T> {
  readonly journal: string;
  readonly seq: Sequencer<T>;
  readThrough: number;
  readonly restoredThrough: number;
}

/** Reads a collection's committed documents (see `CollectionReader`); iterate it with `for await`. */
export function readCollection<T = unknown>(client: BrokerClient, collection: string, opts: CollectionReaderOptions = {}): CollectionReader<T> {
  return new CollectionReader<T>(client, collection, opts);
}

/** The promise's value, or undefined once `deadline` (epoch ms) passes first. */
async function raceDeadline<V>(p: Promise<V>, deadline: number): Promise<V | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()), undefined)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
