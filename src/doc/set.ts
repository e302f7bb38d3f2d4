import { cloneJson, compareByKeys, isObject, putProperty } from './json.js';
import type { Resolved } from './locations.js';
import { failure, joinSorted, reduceChild, sortedEntries, UNION, wrongTypes, type Cursor, type Entry, type Mask } from './reduce.js';

/**
 * The `set` strategy, with Flow's rules.
 *
 * A set document is an object of up to three terms: `add`, and one of `intersect` or
 * `remove`. It reads "take the base set, intersect it with `intersect` (or take away
 * `remove`), then union `add`". Terms are all arrays (kept sorted and unique by the
 * strategy's key; by whole value without one) or all objects (keyed by property name),
 * on both sides. Members present on both sides of a union or intersection reduce
 * recursively, so a set is also an associative map of reducible values.
 *
 * Reducing R into L (LA, LI, LR: L's add, intersect, remove; an absent term is empty):
 *   R has intersect RI:   add = (LA ∩ RI) ∪ RA
 *                         intersect = L has intersect ? LI ∩ RI : RI − LR
 *   R has no intersect:   add = (LA − RR) ∪ RA
 *                         L has intersect ? intersect = LI − RR : remove = LR ∪ RR
 * `add` is present if either side has it; `remove` if either side has it; `intersect`
 * whenever the rule yields one. A full reduction (lhs is the whole prior document, so
 * nothing earlier remains to apply them to) keeps only `add`.
 */
export function reduceSet(r: Resolved, lhs: unknown, rhs: unknown, key: readonly (readonly string[])[], cur: Cursor): unknown {
  if (lhs === null && isObject(rhs)) return cloneJson(rhs);
  const L = termsOf(lhs, 'lhs', lhs, rhs, cur);
  const R = termsOf(rhs, 'rhs', lhs, rhs, cur);
  const values = [L.add, L.intersect, L.remove, R.add, R.intersect, R.remove].filter((v) => v !== undefined);
  const arrays = values.every(Array.isArray);
  if (!arrays && !values.every(isObject)) throw failure(cur, 'set terms must be all arrays or all objects, on both sides');
  const ops = arrays ? arrayOps(r, key, cur) : objectOps(r, cur);

  const out: Record<string, unknown> = {};
  const term = (name: 'add' | 'intersect' | 'remove', value: unknown) => {
    if (value !== undefined) out[name] = value;
  };
  if (R.intersect !== undefined) {
    if (L.add !== undefined || R.add !== undefined) term('add', ops.join('add', ops.filter(L.add, R.intersect, true), R.add, UNION));
    if (!cur.full) term('intersect', L.intersect !== undefined ? ops.join('intersect', L.intersect, R.intersect, BOTH) : ops.join('intersect', L.remove, R.intersect, RIGHT));
  } else {
    if (L.add !== undefined || R.add !== undefined) term('add', ops.join('add', ops.filter(L.add, R.remove, false), R.add, UNION));
    if (!cur.full && L.intersect !== undefined) term('intersect', ops.join('intersect', L.intersect, R.remove, LEFT));
    else if (!cur.full && (L.remove !== undefined || R.remove !== undefined)) term('remove', ops.join('remove', L.remove, R.remove, UNION));
  }
  return out;
}

const BOTH: Mask = { left: false, right: false, both: true };
const LEFT: Mask = { left: true, right: false, both: false };
const RIGHT: Mask = { left: false, right: true, both: false };

interface Terms {
  add?: unknown;
  intersect?: unknown;
  remove?: unknown;
}

function termsOf(v: unknown, side: string, lhs: unknown, rhs: unknown, cur: Cursor): Terms {
  if (!isObject(v)) throw wrongTypes(cur, 'set expects objects of add / intersect / remove', lhs, rhs);
  for (const [k, term] of Object.entries(v)) {
    if (k !== 'add' && k !== 'intersect' && k !== 'remove') throw failure(cur, `set expects only add, intersect and remove, but ${side} has ${JSON.stringify(k)}`);
    if (!Array.isArray(term) && !isObject(term)) throw failure(cur, `set term ${k} of ${side} must be an array or an object`);
  }
  if (v.intersect !== undefined && v.remove !== undefined) throw failure(cur, `set ${side} has both intersect and remove`);
  return v;
}

/** Set algebra over one kind of term. `join` reduces members of both sides at the rhs term's location. */
interface Ops {
  /** Members of `lhs` that are (keep = true) or are not (keep = false) in `sub`. */
  filter(lhs: unknown, sub: unknown, keep: boolean): unknown;
  join(name: string, lhs: unknown, rhs: unknown, mask: Mask): unknown;
}

function arrayOps(r: Resolved, key: readonly (readonly string[])[], cur: Cursor): Ops {
  const sorted = (name: string, arr: unknown, owned: boolean): Entry[] => {
    if (arr === undefined) return [];
    cur.path.push(name);
    const out = sortedEntries(arr as unknown[], key, r.property(name).resolve(arr), cur, owned);
    cur.path.pop();
    return out;
  };
  return {
    filter: (lhs, sub, keep) => {
      if (lhs === undefined) return undefined;
      // Only the filtering members' keys matter: sort them, but never reduce them.
      const members = [...((sub ?? []) as unknown[])].sort((a, b) => compareByKeys(a, b, key));
      let j = 0;
      return sorted('add', lhs, true)
        .map((e) => e.value)
        .filter((v) => {
          while (j < members.length && compareByKeys(members[j], v, key) < 0) j++;
          return (j < members.length && compareByKeys(members[j], v, key) === 0) === keep;
        });
    },
    join: (name, lhs, rhs, mask) => {
      const [l, rt] = [sorted(name, lhs, true), sorted(name, rhs, false)];
      cur.path.push(name);
      const out = joinSorted(l, rt, key, mask, r.property(name).resolve(rhs ?? []), cur).map((e) => e.value);
      cur.path.pop();
      return out;
    },
  };
}

function objectOps(r: Resolved, cur: Cursor): Ops {
  return {
    filter: (lhs, sub, keep) => {
      if (lhs === undefined) return undefined;
      const s = (sub ?? {}) as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(lhs as Record<string, unknown>)) if (Object.hasOwn(s, k) === keep) putProperty(out, k, v);
      return out;
    },
    join: (name, lhs, rhs, mask) => {
      const l = (lhs ?? {}) as Record<string, unknown>;
      const rt = (rhs ?? {}) as Record<string, unknown>;
      const at = rhs === undefined ? undefined : r.property(name).resolve(rhs);
      const out: Record<string, unknown> = {};
      cur.path.push(name);
      for (const [k, v] of Object.entries(l)) {
        if (!Object.hasOwn(rt, k)) {
          if (mask.left) putProperty(out, k, v);
        } else if (mask.both) {
          putProperty(out, k, reduceChild(at!.property(k), v, rt[k], cur, k));
        }
      }
      if (mask.right) for (const [k, v] of Object.entries(rt)) if (!Object.hasOwn(l, k)) putProperty(out, k, cloneJson(v));
      cur.path.pop();
      return out;
    },
  };
}
