import { InletError } from '../errors.js';
import { pointerOf } from '../protocol/json-exact.js';

/**
 * JSON documents as collections see them: pointers (RFC 6901), a total order, and
 * canonical keys. Documents are plain JSON values; `undefined` stands for "absent".
 */

/** Splits an RFC 6901 pointer into unescaped tokens: `""` is the root, `/a~1b/0` is `["a/b", "0"]`. Throws BAD_REQUEST if malformed. */
export function parsePointer(ptr: string): string[] {
  if (ptr === '') return [];
  if (!ptr.startsWith('/')) throw new InletError('BAD_REQUEST', `JSON pointer ${JSON.stringify(ptr)} must be empty or start with "/"`);
  return ptr
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~[^01]|~$/.test(token)) throw new InletError('BAD_REQUEST', `JSON pointer ${JSON.stringify(ptr)} has a bad escape ("~" must be followed by 0 or 1)`);
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

/** Renders tokens as an RFC 6901 pointer; the root is `""`. */
export const formatPointer: (tokens: readonly string[]) => string = pointerOf;

// Pointers come from schemas and catalogs, a small fixed set: parse each once.
const parsed = new Map<string, readonly string[]>();
function tokensOf(ptr: string | readonly string[]): readonly string[] {
  if (typeof ptr !== 'string') return ptr;
  let tokens = parsed.get(ptr);
  if (tokens === undefined) parsed.set(ptr, (tokens = parsePointer(ptr)));
  return tokens;
}

const INDEX = /^(0|[1-9][0-9]*)$/;

/** The value at `ptr` in `doc`, or undefined if it is absent. */
export function getPointer(doc: unknown, ptr: string | readonly string[]): unknown {
  let node = doc;
  for (const token of tokensOf(ptr)) {
    if (Array.isArray(node)) {
      node = INDEX.test(token) ? node[Number(token)] : undefined;
    } else if (isObject(node)) {
      node = Object.hasOwn(node, token) ? node[token] : undefined;
    } else {
      return undefined;
    }
    if (node === undefined) return undefined;
  }
  return node;
}

/**
 * Sets the value at `ptr`, creating objects along the way, and returns the document
 * (which is `value` itself for the root pointer). `-` appends to an array. Throws
 * INVALID_DOCUMENT if a location on the way is a scalar or an index is out of range.
 */
export function setPointer(doc: unknown, ptr: string | readonly string[], value: unknown): unknown {
  const tokens = tokensOf(ptr);
  if (tokens.length === 0) return value;
  let node = doc;
  tokens.forEach((token, i) => {
    const last = i === tokens.length - 1;
    const where = () => formatPointer(tokens.slice(0, i)) || '(root)';
    if (Array.isArray(node)) {
      const index = token === '-' ? node.length : INDEX.test(token) ? Number(token) : NaN;
      if (!(index <= node.length)) throw new InletError('INVALID_DOCUMENT', `cannot set ${formatPointer(tokens)}: ${where()} has no item ${token}`);
      if (last) node[index] = value;
      else node = node[index] ??= {};
    } else if (isObject(node)) {
      if (last) putProperty(node, token, value);
      else if (Object.hasOwn(node, token) && node[token] !== undefined) node = node[token];
      else putProperty(node, token, (node = {}));
    } else {
      throw new InletError('INVALID_DOCUMENT', `cannot set ${formatPointer(tokens)}: ${where()} is ${typeName(node)}`);
    }
  });
  return doc;
}

/** A plain JSON object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Sets an own property, even one named `__proto__`, which plain assignment would not. */
export function putProperty(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** A deep copy of a JSON value. */
export function cloneJson<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(cloneJson) as T;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) putProperty(out, k, cloneJson((v as Record<string, unknown>)[k]));
  return out as T;
}

/** Names a value's JSON type for messages: `absent`, `null`, `a boolean`, `a number`, `a string`, `an array`, `an object`. */
export function typeName(v: unknown): string {
  if (v === undefined) return 'absent';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

// Type ranks of the total order; absent sorts first.
function rank(v: unknown): number {
  if (v === undefined) return 0;
  if (v === null) return 1;
  switch (typeof v) {
    case 'boolean':
      return 2;
    case 'number':
      return 3;
    case 'string':
      return 4;
    default:
      return Array.isArray(v) ? 5 : 6;
  }
}

/**
 * Compares strings by Unicode code point, which is UTF-8 byte order (as Flow compares).
 * UTF-16 code-unit order differs only where a surrogate meets U+E000–U+FFFF.
 */
export function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

// Maps a code unit to a rank ordering it as the code point it starts or belongs to:
// surrogates (code points above U+FFFF) move above U+E000–U+FFFF.
function codePointRank(c: number): number {
  if (c < 0xd800) return c;
  return c <= 0xdfff ? c + 0x2000 : c - 0x800;
}

/**
 * The total order of JSON values (as Flow's): absent < null < false < true < numbers
 * (by value) < strings (by code point) < arrays (item by item, then length) <
 * objects (sorted properties compared name then value, then size). Returns <0, 0 or >0.
 */
export function compareJson(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 2:
      return Number(a) - Number(b);
    case 3:
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    case 4:
      return compareStrings(a as string, b as string);
    case 5: {
      const x = a as unknown[];
      const y = b as unknown[];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = compareJson(x[i], y[i]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    case 6: {
      const x = a as Record<string, unknown>;
      const y = b as Record<string, unknown>;
      const xk = Object.keys(x).sort(compareStrings);
      const yk = Object.keys(y).sort(compareStrings);
      for (let i = 0; i < Math.min(xk.length, yk.length); i++) {
        const c = compareStrings(xk[i]!, yk[i]!) || compareJson(x[xk[i]!], y[yk[i]!]);
        if (c !== 0) return c;
      }
      return xk.length - yk.length;
    }
    default:
      return 0;
  }
}

/** Compares two documents by the values at each pointer in turn (absent sorts first). */
export function compareByKeys(a: unknown, b: unknown, pointers: readonly (string | readonly string[])[]): number {
  for (const ptr of pointers) {
    const c = compareJson(getPointer(a, ptr), getPointer(b, ptr));
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * A canonical string of a document's key values, for use as a Map key: two documents
 * pack equal exactly when compareByKeys says they are equal.
 */
export function packKey(doc: unknown, pointers: readonly (string | readonly string[])[]): string {
  // Canonical JSON never contains a raw NUL and is never empty, so the encoding is unambiguous.
  if (pointers.length === 1) return canonicalJson(getPointer(doc, pointers[0]!));
  return pointers.map((ptr) => canonicalJson(getPointer(doc, ptr))).join('\u0000');
}

/** JSON with object properties sorted, so equal values serialize equally; absent is `""`. */
export function canonicalJson(v: unknown): string {
  if (v === undefined) return '';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isObject(v)) {
    const keys = Object.keys(v).sort(compareStrings);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
