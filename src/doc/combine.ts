import { compareJson, getPointer, packKey } from './json.js';
import type { CollectionSchema } from './schema.js';

/**
 * Combines documents by key: each added document reduces into the one already held for
 * its key (partial reductions: the combined document is itself an rhs for whatever
 * comes later). The one combiner of ingestion, derivations and materializations.
 */
export class Combiner {
  /** Per key: the combined document, and how many documents were added to it. */
  private docs = new Map<string, { doc: unknown; adds: number }>();

  /** `key` is the collection key, as JSON pointers. */
  constructor(
    private readonly schema: CollectionSchema,
    private readonly key: readonly string[],
  ) {}

  /**
   * Reduces `doc` (as rhs) into the document held for its key; `doc` itself is neither
   * kept nor modified, unless `owned`: the caller gives it up (it shares nothing with anything
   * the caller keeps), and the first document of its key is held as it is, not copied. It is
   * not validated here: validate before adding. Throws REDUCE_FAILED when the reduction fails,
   * after which the key's document may be partly reduced: discard the combiner.
   */
  add(doc: unknown, owned = false): void {
    const id = packKey(doc, this.key);
    const held = this.docs.get(id);
    // The first document of a key reduces against nothing: the combiner holds a copy (or the document given up).
    if (held === undefined) this.docs.set(id, { doc: owned ? doc : this.schema.reduce(undefined, doc), adds: 1 });
    else {
      held.doc = this.schema.reduce(held.doc, doc);
      held.adds++;
    }
  }

  /** How many distinct keys are held. */
  get size(): number {
    return this.docs.size;
  }

  /** The combined documents in key order (compareByKeys), emptying the combiner. */
  drain(): unknown[] {
    return this.drainCounted().map((h) => h.doc);
  }

  /**
   * `drain`, with how many documents were added to each: a document that one add made is a copy
   * of it, while one that several reduced together is what no single document was.
   */
  drainCounted(): { doc: unknown; adds: number }[] {
    // Each document's key values are looked up once, not at every comparison.
    const held = [...this.docs.values()].map((h) => ({ doc: h.doc, adds: h.adds, key: this.key.map((ptr) => getPointer(h.doc, ptr)) }));
    this.docs = new Map();
    held.sort((a, b) => compareKeyValues(a.key, b.key));
    return held;
  }
}

function compareKeyValues(a: readonly unknown[], b: readonly unknown[]): number {
  for (let i = 0; i < a.length; i++) {
    const c = compareJson(a[i], b[i]);
    if (c !== 0) return c;
  }
  return 0;
}
