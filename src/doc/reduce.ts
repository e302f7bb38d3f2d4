import { InletError } from '../errors.js';
import { cloneJson, compareByKeys, formatPointer, isObject, putProperty, typeName } from './json.js';
import type { Location, Resolved } from './locations.js';
import { reduceSet } from './set.js';

/**
 * The reduction strategies (Flow's `reduce` annotations). Ownership: a reduction
 * consumes its lhs, which it may modify and return; it never modifies rhs, and the
 * result shares nothing with rhs (what it takes of rhs, it copies). So a result can
 * always be the lhs of the next reduction.
 *
 * A null lhs counts as absent for append, merge, set and sum (the rhs is taken when it
 * has the strategy's type), where current Flow would keep the null or fail.
 */

/** The state of one reduction: whether lhs is the complete prior document, and where we are. */
export interface Cursor {
  readonly full: boolean;
  readonly path: string[];
}

/** A composite key of no pointers compares whole values: `[""]`. */
const WHOLE_VALUE: readonly (readonly string[])[] = [[]];

/** Reduces rhs into lhs at `loc`, by the strategy the rhs value resolves there. */
export function reduceAt(loc: Location, lhs: unknown, rhs: unknown, cur: Cursor): unknown {
  if (lhs === undefined) return cloneJson(rhs);
  const r = loc.resolve(rhs);
  const s = r.strategy;
  switch (s.strategy) {
    case 'lastWriteWins':
      return cloneJson(rhs);
    case 'firstWriteWins':
      return lhs;
    case 'append':
      if (Array.isArray(rhs) && (lhs === null || Array.isArray(lhs))) {
        if (lhs === null) return cloneJson(rhs);
        for (const v of rhs) lhs.push(cloneJson(v));
        return lhs;
      }
      throw wrongTypes(cur, 'append expects arrays', lhs, rhs);
    case 'sum':
      return sum(lhs, rhs, cur);
    case 'merge':
      return merge(r, lhs, rhs, s.key, cur, 'merge');
    case 'minimize':
    case 'maximize': {
      const c = compareByKeys(lhs, rhs, s.key.length > 0 ? s.key : WHOLE_VALUE);
      if (c === 0) return s.key.length > 0 ? merge(r, lhs, rhs, [], cur, `${s.strategy} (merging equal keys)`) : cloneJson(rhs);
      const keepLhs = s.strategy === 'minimize' ? c < 0 : c > 0;
      return keepLhs ? lhs : cloneJson(rhs);
    }
    case 'set':
      return reduceSet(r, lhs, rhs, s.key.length > 0 ? s.key : WHOLE_VALUE, cur);
  }
}

/** Reduces the child `token` of lhs and rhs (both present) at `loc`. */
export function reduceChild(loc: Location, lhs: unknown, rhs: unknown, cur: Cursor, token: string | number): unknown {
  cur.path.push(String(token));
  const out = reduceAt(loc, lhs, rhs, cur);
  cur.path.pop();
  return out;
}

/** A REDUCE_FAILED error naming the location and both sides' types. */
export function wrongTypes(cur: Cursor, what: string, lhs: unknown, rhs: unknown): InletError {
  return failure(cur, `${what}, but lhs is ${typeName(lhs)} and rhs is ${typeName(rhs)}`);
}

/** A REDUCE_FAILED error at the cursor's location. */
export function failure(cur: Cursor, why: string): InletError {
  return new InletError('REDUCE_FAILED', `${formatPointer(cur.path) || '(root)'}: ${why}`);
}

function sum(lhs: unknown, rhs: unknown, cur: Cursor): number {
  if (typeof rhs !== 'number' || (lhs !== null && typeof lhs !== 'number')) throw wrongTypes(cur, 'sum expects numbers', lhs, rhs);
  if (lhs === null) return rhs;
  const out = lhs + rhs;
  if (!Number.isFinite(out)) throw failure(cur, `sum of ${lhs} and ${rhs} overflows`);
  // Integers stay exact; where they cannot (an operand or the sum beyond ±2^53 − 1), fail rather
  // than round, as Flow fails on overflow.
  if (Number.isInteger(lhs) && Number.isInteger(rhs) && !(Number.isSafeInteger(lhs) && Number.isSafeInteger(rhs) && Number.isSafeInteger(out))) {
    throw failure(cur, `sum of ${lhs} and ${rhs} is beyond the exactly representable integers (±${Number.MAX_SAFE_INTEGER})`);
  }
  return out;
}

/**
 * Merges objects property by property and arrays item by item, or with a key as a
 * sorted merge-join: each side is put in key order first (equal keys reducing together,
 * in order), so the result is sorted and unique by key. Shared keys reduce recursively.
 */
function merge(r: Resolved, lhs: unknown, rhs: unknown, key: readonly (readonly string[])[], cur: Cursor, what: string): unknown {
  if (lhs === null && (isObject(rhs) || Array.isArray(rhs))) return cloneJson(rhs);
  if (isObject(lhs) && isObject(rhs)) {
    for (const k of Object.keys(rhs)) {
      putProperty(lhs, k, Object.hasOwn(lhs, k) ? reduceChild(r.property(k), lhs[k], rhs[k], cur, k) : cloneJson(rhs[k]));
    }
    return lhs;
  }
  if (Array.isArray(lhs) && Array.isArray(rhs)) {
    if (key.length > 0) return joinSorted(sortedEntries(lhs, key, r, cur, true), sortedEntries(rhs, key, r, cur, false), key, UNION, r, cur).map((e) => e.value);
    rhs.forEach((v, i) => {
      if (i < lhs.length) lhs[i] = reduceChild(r.item(i), lhs[i], v, cur, i);
      else lhs.push(cloneJson(v));
    });
    return lhs;
  }
  throw wrongTypes(cur, `${what} expects two objects or two arrays`, lhs, rhs);
}

/** An array item with its index in the document it came from (which locates its schema). */
export interface Entry {
  readonly value: unknown;
  readonly index: number;
}

/** Which sides of a sorted join to keep: only-left, only-right, and both (reduced). */
export interface Mask {
  readonly left: boolean;
  readonly right: boolean;
  readonly both: boolean;
}
export const UNION: Mask = { left: true, right: true, both: true };

/**
 * The items of `arr` sorted and unique by key. Already sorted arrays (the common case,
 * and always so for reduced ones) cost one pass; otherwise a stable sort, then each run of
 * equal keys reduces left to right. `owned` says whether the items may be modified.
 */
export function sortedEntries(arr: readonly unknown[], key: readonly (readonly string[])[], r: Resolved, cur: Cursor, owned: boolean): Entry[] {
  const entries = arr.map((value, index) => ({ value, index }));
  if (entries.every((e, i) => i === 0 || compareByKeys(entries[i - 1]!.value, e.value, key) < 0)) return entries;
  entries.sort((a, b) => compareByKeys(a.value, b.value, key));
  const out: (Entry & { copied?: boolean })[] = [];
  for (const e of entries) {
    const last = out.at(-1);
    if (last && compareByKeys(last.value, e.value, key) === 0) {
      const acc = owned || last.copied ? last.value : cloneJson(last.value);
      out[out.length - 1] = { value: reduceChild(r.item(e.index), acc, e.value, cur, e.index), index: last.index, copied: true };
    } else {
      out.push(e);
    }
  }
  return out;
}

/**
 * Joins two arrays sorted and unique by key, keeping what `mask` asks for. Right-hand
 * items are copied; items on both sides reduce at the right-hand item's location.
 */
export function joinSorted(lhs: readonly Entry[], rhs: readonly Entry[], key: readonly (readonly string[])[], mask: Mask, r: Resolved, cur: Cursor): Entry[] {
  const out: Entry[] = [];
  let i = 0;
  let j = 0;
  while (i < lhs.length || j < rhs.length) {
    const c = i === lhs.length ? 1 : j === rhs.length ? -1 : compareByKeys(lhs[i]!.value, rhs[j]!.value, key);
    if (c < 0) {
      if (mask.left) out.push(lhs[i]!);
      i++;
    } else if (c > 0) {
      if (mask.right) out.push({ value: cloneJson(rhs[j]!.value), index: rhs[j]!.index });
      j++;
    } else {
      if (mask.both) out.push({ value: reduceChild(r.item(rhs[j]!.index), lhs[i]!.value, rhs[j]!.value, cur, rhs[j]!.index), index: rhs[j]!.index });
      i++;
      j++;
    }
  }
  return out;
}
