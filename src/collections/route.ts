import { InletError } from '../errors.js';
import { validateJournalName } from '../protocol/names.js';
import type { JournalSpecInput } from '../protocol/journal-spec.js';
import type { Collection } from './collection.js';
import { Combiner } from '../doc/combine.js';
import { getPointer } from '../doc/json.js';
import { checkPartitionValue, partitionJournal, partitionLabels, type PartitionValue } from './partitions.js';

/** Documents bound for one partition journal, and what the journal is made of if it is missing. */
export interface JournalPart {
  readonly collection: Collection;
  readonly values: PartitionValue[];
  readonly docs: Record<string, unknown>[];
  /** Documents validated, combined and encoded elsewhere (`Router.addEncoded`), written after `docs`. */
  readonly encoded: EncodedLines[];
}

/**
 * Documents of one partition journal encoded as NDJSON by someone else (a derivation's lambda
 * worker, `encodeLines`), each line ending in `"_meta":{"uuid":"…"}}` with a placeholder the
 * publisher overwrites (`Publisher.encode`): the documents go out under its producer and clocks.
 */
export interface EncodedLines {
  readonly body: Uint8Array;
  /** The end offset in `body` of each line, in order. */
  readonly ends: Int32Array;
  /** Bytes before `body` in its buffer that are free: the publisher may write there (its fence) rather than copy. */
  readonly headroom?: number;
}

/** The documents of a transaction that were validated, combined and encoded elsewhere, for one partition journal. */
export interface EncodedPart extends EncodedLines {
  readonly collection: string;
  readonly journal: string;
  readonly values: PartitionValue[];
}

/** A transaction's documents, validated, combined by key and routed to partition journals. */
export interface Routed {
  readonly journals: Map<string, JournalPart>;
  /** Documents added, and left after combining those with equal keys. */
  readonly received: number;
  readonly stored: number;
}

/**
 * Validates documents of collections, combines those with equal keys (the collection's
 * reduction annotations), and routes the results to their partition journals. Errors are
 * INVALID_DOCUMENT (or the reduction's code) naming `<collection>[<index>]`, thrown before
 * anything is written; after a failed `add` the router must be discarded.
 */
export class Router {
  private readonly combiners = new Map<Collection, { combiner: Combiner; added: number }>();
  private encoded: EncodedPart[] = [];

  constructor(private readonly collections: ReadonlyMap<string, Collection>) {}

  /** The collection named `name`, or COLLECTION_NOT_FOUND listing the known ones. */
  collection(name: string): Collection {
    const c = this.collections.get(name);
    if (c) return c;
    const known = [...this.collections.keys()].join(', ') || 'none';
    throw new InletError('COLLECTION_NOT_FOUND', `collection ${JSON.stringify(name)} is not in the catalog (collections: ${known})`);
  }

  /**
   * Validates `doc` and combines it into the transaction; `index` names it in errors. With
   * `owned`, the caller gives `doc` up (see Combiner.add): it may be held and modified as it is.
   */
  add(name: string, doc: unknown, index: number, owned = false): void {
    const c = this.collection(name);
    const details = () => ({ details: { collection: name, index } });
    const why = c.schema.validate(doc);
    if (why !== null) throw new InletError('INVALID_DOCUMENT', `${name}[${index}]: ${why}`, details());
    for (const ptr of c.spec.key) {
      if (getPointer(doc, ptr) === undefined) throw new InletError('INVALID_DOCUMENT', `${name}[${index}]: key ${ptr} is missing`, details());
    }
    let entry = this.combiners.get(c);
    if (!entry) this.combiners.set(c, (entry = { combiner: new Combiner(c.schema, c.spec.key), added: 0 }));
    try {
      entry.combiner.add(doc, owned);
    } catch (err) {
      throw err instanceof InletError ? new InletError(err.code, `${name}[${index}]: ${err.message}`, details()) : err;
    }
    entry.added++;
  }

  /**
   * Adds documents combined elsewhere (see EncodedLines). They are not combined with the others
   * of their keys: whoever encoded them combined them with every other document of the
   * transaction. `Routed.received` counts them as combined.
   */
  addEncoded(part: EncodedPart): void {
    this.collection(part.collection);
    this.encoded.push(part);
  }

  /** The combined documents by partition journal; the router is empty afterwards. */
  drain(): Routed {
    const journals = new Map<string, JournalPart>();
    let received = 0;
    let stored = 0;
    for (const [c, { combiner, added }] of this.combiners) {
      const name = c.spec.name;
      const combined = combiner.drainCounted();
      received += added;
      stored += combined.length;
      const fields = c.spec.partitionFields;
      // Unpartitioned: one journal for every document, named once.
      const single = fields.length === 0 ? { values: [] as PartitionValue[], journal: partitionJournal(name, fields, []) } : undefined;
      combined.forEach(({ doc, adds }, i) => {
        // A reduction may produce what no single document was: it must still be valid. A document
        // added alone is a copy of one validated by `add`.
        if (adds > 1) {
          const why = c.schema.validate(doc);
          if (why !== null) throw new InletError('INVALID_DOCUMENT', `${name}: a combined document is invalid: ${why}`);
        }
        const values = single
          ? single.values
          : fields.map((f) => checkPartitionValue(name, f, c.spec.projections[f]!.location, getPointer(doc, c.spec.projections[f]!.location), i));
        const journal = single ? single.journal : partitionJournal(name, fields, values);
        let part = journals.get(journal);
        if (!part) {
          try {
            validateJournalName(journal);
          } catch (err) {
            throw new InletError('INVALID_DOCUMENT', `${name}[${i}]: its partition values make no valid journal name: ${(err as Error).message}`, {
              details: { collection: name, index: i },
            });
          }
          journals.set(journal, (part = { collection: c, values, docs: [], encoded: [] }));
        }
        part.docs.push(doc as Record<string, unknown>);
      });
    }
    this.combiners.clear();
    for (const e of this.encoded) {
      let part = journals.get(e.journal);
      if (!part) journals.set(e.journal, (part = { collection: this.collection(e.collection), values: e.values, docs: [], encoded: [] }));
      part.encoded.push(e);
      received += e.ends.length;
      stored += e.ends.length;
    }
    this.encoded = [];
    return { journals, received, stored };
  }
}

/** The spec a missing partition journal is created with: its labels, NDJSON, the collection's fragment settings. */
export function partitionSpec(journal: string, part: JournalPart): JournalSpecInput {
  const spec = part.collection.spec;
  return {
    name: journal,
    labels: partitionLabels(spec.name, spec.partitionFields, part.values),
    contentType: 'application/x-ndjson',
    ...(spec.journals.fragment ? { fragment: spec.journals.fragment } : {}),
  };
}
