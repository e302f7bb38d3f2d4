import { compareJson, getPointer, packKey } from './json.js';
import type { CollectionSchema } from './schema.js';

/**
 * Combines documents by key: each added document reduces into the one already held for
 * its key (partial reductions: the combined document is itself an rhs for whatever
 * comes later). The one combiner of ingestion, derivations and materializations.
 */
export class Combiner {
  private docs = new Map<string, unknown>();

  /** `key` is the collection key, as JSON pointers. */
  constructor(
    private readonly schema: CollectionSchema,
    private readonly key: readonly string[],
  ) {}

  /**
   * Reduces `doc` (as rhs) into the document held for its key; `doc` itself is neither
   * kept nor modified. It is not validated here: validate before adding. Throws
   * REDUCE_FAILED when the reduction fails, after which the key's document may be partly
   * reduced: discard the combiner.
   */
  add(doc: unknown): void {
    const id = packKey(doc, this.key);
    // The first document of a key reduces against nothing: the combiner holds a copy.
    this.docs.set(id, this.schema.reduce(this.docs.get(id), doc));
  }

  /** How many distinct keys are held. */
  get size(): number {
    return this.docs.size;
  }

  /** The combined documents in key order (compareByKeys), emptying the combiner. */
  drain(): unknown[] {
    // Each document's key values are looked up once, not at every comparison.
    const held = [...this.docs.values()].map((doc) => ({ doc, key: this.key.map((ptr) => getPointer(doc, ptr)) }));
    this.docs = new Map();
    held.sort((a, b) => compareKeyValues(a.key, b.key));
    return held.map((h) => h.doc);
  }
}

function compareKeyValues(a: readonly unknown[], b: readonly unknown[]): number {
  for (let i = 0; i < a.length; i++) {
    const c = compareJson(a[i], b[i]);
    if (c !== 0) return c;
  }
  return 0;
}
