import { canonicalJson, compareJson, getPointer } from './json.js';
import type { CollectionSchema } from './schema.js';

/**
 * Combines documents by key: each added document reduces into the one already held for
 * its key (partial reductions: the combined document is itself an rhs for whatever
 * comes later). The one combiner of ingestion, derivations and materializations.
 */
export class Combiner {
  /** Per key (see `idOf`): the combined document, how many documents were added to it, and its key value(s). */
  private docs = new Map<unknown, Held>();

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
    const key = this.keyOf(doc);
    const id = idOf(key, this.key.length === 1);
    const held = this.docs.get(id);
    if (held === undefined) {
      // The first document of a key reduces against nothing: the combiner holds a copy (or the
      // document given up), and its key values are the held document's, not the caller's.
      const mine = owned ? doc : this.schema.reduce(undefined, doc);
      this.docs.set(id, { doc: mine, adds: 1, key: owned ? key : this.keyOf(mine) });
    } else {
      held.doc = this.schema.reduce(held.doc, doc);
      held.adds++;
    }
  }

  /** One pointer: its value alone (no list per document); several: the list of their values. */
  private keyOf(doc: unknown): unknown {
    return this.key.length === 1 ? getPointer(doc, this.key[0]!) : this.key.map((ptr) => getPointer(doc, ptr));
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
    const held = [...this.docs.values()];
    this.docs = new Map();
    // Each document's key values are taken once, not looked up at every comparison: when it was
    // added, or now for one that reductions made (a reduction may change a key location).
    for (const h of held) if (h.adds > 1) h.key = this.keyOf(h.doc);
    held.sort(this.key.length === 1 ? (a, b) => compareJson(a.key, b.key) : (a, b) => compareKeyValues(a.key as unknown[], b.key as unknown[]));
    return held;
  }
}

interface Held {
  doc: unknown;
  adds: number;
  key: unknown;
}

/**
 * A Map key for key value(s), equal exactly when packKey's are: a finite number
 * as it is (no string made per document; no string equals it), anything else as canonical JSON,
 * several values joined by NUL (which canonical JSON never holds).
 */
function idOf(key: unknown, single: boolean): unknown {
  // Not NaN or ±Infinity, which canonical JSON writes as null, one key with null.
  if (typeof key === 'number' && Number.isFinite(key)) return key;
  return single ? canonicalJson(key) : (key as unknown[]).map(canonicalJson).join('\u0000');
}

function compareKeyValues(a: readonly unknown[], b: readonly unknown[]): number {
  for (let i = 0; i < a.length; i++) {
    const c = compareJson(a[i], b[i]);
    if (c !== 0) return c;
  }
  return 0;
}
