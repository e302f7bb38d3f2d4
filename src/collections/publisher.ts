import type { JournalWriter } from '../client/journal-writer.js';
import { crashPoint } from '../crashpoints.js';
import { InletError } from '../errors.js';
import { partitionSpec, type EncodedLines, type Routed } from './route.js';
import { ACK_TXN, buildUuid, ClockSource, CONTINUE_TXN, writeUuids, ZERO_CLOCK } from './uuid.js';

/**
 * The ACK documents that commit (or roll back) a transaction: one NDJSON line per journal it
 * wrote. A consumer stores them with its checkpoint and appends them again at restart. JSON as it is.
 */
export type AckIntents = Record<string, string>;

/**
 * Transactional publishing under one producer, as Gazette's message.Publisher: documents go
 * out uncommitted (CONTINUE_TXN) with clocks above every earlier one of the producer; ACK
 * intents at the transaction's last clock commit them; ACK intents at the last committed clock
 * roll them back. The first part a transaction writes to each journal opens with such a
 * rollback ACK (a fence), so documents that a crashed earlier transaction left behind in that
 * journal are discarded before the new ones, never committed by the new ACK.
 *
 * One transaction at a time: `publish` any number of times, then `commit()` or `rollback()`.
 */
export class Publisher {
  private readonly clocks: ClockSource;
  private readonly crashLabel: string;
  /** Journals written by the open transaction, and its last clock. */
  private readonly written = new Set<string>();
  private clock: string;

  /**
   * `committed` is the producer's last committed clock (ZERO_CLOCK for a new producer).
   * `clocks` may be shared by the publishers of one process; `crashLabel` names crash points
   * `<label>.append` (after each append).
   */
  constructor(
    private readonly writer: JournalWriter,
    readonly producer: string,
    private committed: string = ZERO_CLOCK,
    opts: { clocks?: ClockSource; crashLabel?: string } = {},
  ) {
    this.clocks = opts.clocks ?? new ClockSource();
    this.crashLabel = opts.crashLabel ?? 'publish';
    this.clocks.observe(committed);
    this.clock = committed;
  }

  /** The producer's last committed clock. */
  get lastCommitted(): string {
    return this.committed;
  }

  /** Journals the open transaction wrote to, sorted. */
  get journals(): string[] {
    return [...this.written].sort();
  }

  /** Creates the missing partition journals of `routed`, before anything of it is written. */
  async ensure(routed: Routed): Promise<void> {
    for (const [name, part] of routed.journals) await this.writer.ensure(partitionSpec(name, part));
  }

  /**
   * The NDJSON of `routed` under this producer, per journal, not yet written. Clocks are taken
   * now, so call `append` with the parts in order. `_meta` is the publisher's: whatever a
   * document held there is replaced, in the routed document itself (a router's documents are its
   * own copies).
   */
  encode(routed: Routed): Map<string, Buffer> {
    const bodies = new Map<string, Buffer>();
    for (const name of [...routed.journals.keys()].sort()) {
      const { docs, encoded } = routed.journals.get(name)!;
      const lines: string[] = new Array(docs.length + 1);
      lines[0] = this.written.has(name) ? '' : ackLine(this.producer, this.committed);
      for (let i = 0; i < docs.length; i++) {
        this.clock = this.clocks.next();
        const doc = docs[i]!;
        // In place, which keeps the property order a copy `{ ...doc, _meta }` would have.
        doc._meta = { uuid: buildUuid(this.producer, this.clock, CONTINUE_TXN) };
        lines[i + 1] = JSON.stringify(doc) + '\n';
      }
      const head = Buffer.from(lines.join(''));
      if (encoded.length === 0) {
        bodies.set(name, head);
        continue;
      }
      const parts: Buffer[] = head.length > 0 ? [head] : [];
      for (const e of encoded) {
        if (e.ends.length === 0) continue;
        const { body: b, ends } = e;
        const { first, last } = this.clocks.reserve(ends.length);
        writeUuids(b, this.producer, first, ends.length, CONTINUE_TXN, (i) => ends[i]! - UUID_FROM_END);
        this.clock = last;
        const single = parts.length === 1 && parts[0] === head;
        if (single && (e.headroom ?? 0) >= head.length) {
          // The fence goes into the room left before the lines: one buffer, not a copy of both.
          const withHead = Buffer.from(b.buffer, b.byteOffset - head.length, b.byteLength + head.length);
          head.copy(withHead, 0);
          parts[0] = withHead;
        } else parts.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      }
      // One part (lines under a fence written into their headroom, or lines alone): written as it is, not copied.
      bodies.set(name, parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    }
    for (const name of bodies.keys()) this.written.add(name);
    return bodies;
  }

  /** Appends encoded parts, all journals at once; resolves with each journal's end offset. */
  async append(bodies: Map<string, Buffer>): Promise<Record<string, number>> {
    const ends: Record<string, number> = {};
    await Promise.all(
      [...bodies].map(async ([name, body]) => {
        ends[name] = await this.writer.append(name, body);
        crashPoint(`${this.crashLabel}.append`);
      }),
    );
    return ends;
  }

  /** Ensures, encodes and appends: the documents are written, uncommitted. */
  async publish(routed: Routed): Promise<Record<string, number>> {
    await this.ensure(routed);
    return this.append(this.encode(routed));
  }

  /** Ends the transaction: the ACK intents that commit it (to be written after it is recorded as committed). */
  commit(): AckIntents {
    const intents = ackIntents(this.producer, this.clock, this.journals);
    this.committed = this.clock;
    this.written.clear();
    return intents;
  }

  /** Ends the transaction: the ACK intents that discard what it wrote. */
  rollback(): AckIntents {
    const intents = ackIntents(this.producer, this.committed, this.journals);
    this.clock = this.committed;
    this.written.clear();
    return intents;
  }
}

/** An ACK at `clock` of `producer` for each journal. */
export function ackIntents(producer: string, clock: string, journals: Iterable<string>): AckIntents {
  const line = ackLine(producer, clock);
  const out: AckIntents = {};
  for (const j of journals) out[j] = line;
  return out;
}

/**
 * Appends ACK intents, all journals at once; resolves with each journal's end offset. Journals
 * that can take no more appends (deleted, closed) are skipped: no reader can see a later
 * document there that the ACK would guard. `crashLabel` names a crash point `<label>.ack` after each.
 */
export async function writeAcks(writer: JournalWriter, intents: AckIntents, crashLabel = 'publish'): Promise<Record<string, number>> {
  const ends: Record<string, number> = {};
  await Promise.all(
    Object.entries(intents).map(async ([name, line]) => {
      try {
        ends[name] = await writer.append(name, Buffer.from(line));
        crashPoint(`${crashLabel}.ack`);
      } catch (err) {
        if (err instanceof InletError && PERMANENT.has(err.code)) return;
        throw err;
      }
    }),
  );
  return ends;
}

/** Append failures no retry can fix: the journal takes no more appends. */
const PERMANENT = new Set(['JOURNAL_NOT_FOUND', 'STREAM_CLOSED', 'OFFSET_GONE']);

/** What `encodeLines` writes where each line's UUID goes: the publisher overwrites it. */
const UUID_PLACEHOLDER = '00000000-0000-1000-8000-000000000000';
/** Where a line's UUID starts, counted back from the line's end: `<uuid>"}}\n`. */
const UUID_FROM_END = UUID_PLACEHOLDER.length + 4;

/**
 * Documents as NDJSON for `Publisher.encode` to take up as they are (`EncodedLines`), where
 * they were made (a derivation's lambda worker), so that the thread that publishes need not
 * encode them: each line ends in `"_meta":{"uuid":"<placeholder>"}}`, whatever `_meta` the document
 * held dropped (the publisher's `_meta` replaces it). The documents are modified (`_meta`).
 */
export function encodeLines(docs: Record<string, unknown>[]): EncodedLines & { headroom: number } {
  const lines: string[] = new Array(docs.length);
  const ends = new Int32Array(docs.length);
  // In characters: the lines' bytes when the body turns out to be ASCII (counted again if not).
  let at = 0;
  for (let i = 0; i < docs.length; i++) {
    const doc = docs[i]!;
    // Undefined rather than deleted: JSON leaves it out, and the object keeps its shape.
    if (doc._meta !== undefined) doc._meta = undefined;
    const json = JSON.stringify(doc);
    if (json.charCodeAt(0) !== 123 || json.charCodeAt(json.length - 1) !== 125) {
      throw new InletError('INVALID_DOCUMENT', `a document to publish must be a JSON object, not ${json.slice(0, 40)}`);
    }
    const line = `${json.length > 2 ? `${json.slice(0, -1)},` : '{'}"_meta":{"uuid":"${UUID_PLACEHOLDER}"}}\n`;
    lines[i] = line;
    at += line.length;
    ends[i] = at;
  }
  const text = lines.join('');
  const bytes = Buffer.byteLength(text);
  if (bytes !== at) {
    at = 0;
    for (let i = 0; i < lines.length; i++) ends[i] = at += Buffer.byteLength(lines[i]!);
  }
  // On an ArrayBuffer of its own (not a slice of Node's pool), so that it can be transferred;
  // with room for the fence the publisher may open its append with (ACK_LINE_BYTES).
  const buf = Buffer.allocUnsafeSlow(ACK_LINE_BYTES + bytes);
  buf.write(text, ACK_LINE_BYTES, 'utf8');
  return { body: new Uint8Array(buf.buffer, ACK_LINE_BYTES, bytes), ends, headroom: ACK_LINE_BYTES };
}

function ackLine(producer: string, clock: string): string {
  return JSON.stringify({ _meta: { uuid: buildUuid(producer, clock, ACK_TXN), ack: true } }) + '\n';
}

/** The length of every ACK line (its producer and clock are of fixed length). */
const ACK_LINE_BYTES = ackLine('000000000000', ZERO_CLOCK).length;
