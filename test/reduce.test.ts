import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { InletError } from '../src/errors.js';
import { cloneJson, compareJson, getPointer, parsePointer, setPointer } from '../src/doc/json.js';
import { LocationSpace } from '../src/doc/locations.js';
import { CollectionSchema } from '../src/doc/schema.js';
import { indexSchemas, type SchemaBundle } from '../src/doc/schema-index.js';

const URI = 'file:///schemas/test.yaml';

function schemaOf(root: object, resources?: SchemaBundle['resources']): CollectionSchema {
  return CollectionSchema.compile({ root, uri: URI, resources });
}

/** Reduces documents left to right, starting from nothing. */
function reduceAll(s: CollectionSchema, docs: unknown[], opts?: { full?: boolean }): unknown {
  return docs.reduce<unknown>((acc, d) => s.reduce(acc, d, opts), undefined);
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    Object.values(v).forEach(deepFreeze);
    Object.freeze(v);
  }
  return v;
}

/** Whether `result` holds any object or array of `rhs` (rather than a copy). */
function shares(result: unknown, rhs: unknown): boolean {
  const seen = new Set<unknown>();
  const collect = (v: unknown): void => {
    if (typeof v === 'object' && v !== null) {
      seen.add(v);
      Object.values(v).forEach(collect);
    }
  };
  collect(rhs);
  const found = (v: unknown): boolean => typeof v === 'object' && v !== null && (seen.has(v) || Object.values(v).some(found));
  return found(result);
}

/**
 * (a·b)·c equals a·(b·c) for partial reductions. Right-hand documents are frozen, so a
 * reduction that modified its rhs would throw, and no result may hold a part of its rhs;
 * left-hand documents are copies, as reduce consumes them.
 */
function assertAssociative(t: ExecutionContext, s: CollectionSchema, arb: fc.Arbitrary<unknown>, runs = 300): void {
  fc.assert(
    fc.property(arb, arb, arb, (a, b, c) => {
      deepFreeze(b);
      deepFreeze(c);
      const ab = s.reduce(cloneJson(a), b);
      const left = s.reduce(ab, c);
      const bc = s.reduce(cloneJson(b), c);
      const right = s.reduce(cloneJson(a), bc);
      return isDeepStrictEqual(left, right) && !shares(ab, b) && !shares(left, c) && !shares(bc, c) && !shares(right, bc);
    }),
    { numRuns: runs },
  );
  t.pass();
}

// --- JSON helpers ---------------------------------------------------------------------

test('pointers parse, get and set per RFC 6901', (t) => {
  t.deepEqual(parsePointer(''), []);
  t.deepEqual(parsePointer('/a~1b/~0c/0'), ['a/b', '~c', '0']);
  t.throws(() => parsePointer('a'), { code: 'BAD_REQUEST' });
  t.throws(() => parsePointer('/a~2'), { code: 'BAD_REQUEST' });
  const doc = { 'a/b': { '~c': [10, 20] } };
  t.is(getPointer(doc, '/a~1b/~0c/1'), 20);
  t.is(getPointer(doc, '/a~1b/~0c/2'), undefined);
  t.is(getPointer(doc, '/a~1b/~0c/01'), undefined, 'leading zeros are not indices');
  t.is(getPointer(doc, '/toString'), undefined, 'inherited properties are absent');
  t.is(getPointer(doc, ''), doc);
  const target: Record<string, unknown> = { list: [1] };
  setPointer(target, '/x/y/z', 1);
  setPointer(target, '/list/-', 2);
  t.deepEqual(target, { x: { y: { z: 1 } }, list: [1, 2] });
  t.throws(() => setPointer({ a: 'str' }, '/a/b', 1), { code: 'INVALID_DOCUMENT', message: /\/a is a string/ });
});

test('compareJson orders by type, then by value', (t) => {
  const ordered = [undefined, null, false, true, -1.5, 0, 2, 10, '', 'a', 'b', [], [1], [1, 2], [2], {}, { a: 1 }, { a: 2 }, { a: 2, b: 0 }, { b: 0 }];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      t.is(Math.sign(compareJson(ordered[i], ordered[j])), Math.sign(i - j), `${JSON.stringify(ordered[i])} vs ${JSON.stringify(ordered[j])}`);
    }
  }
  t.is(compareJson(1, 1.0), 0);
  t.is(compareJson({ a: 1, b: 2 }, { b: 2, a: 1 }), 0, 'property order does not matter');
});

test('compareJson orders strings by code point, not UTF-16 code unit', (t) => {
  // U+FF5E is one code unit above the surrogates by code unit, but below U+1F600 by code point.
  t.true('\u{1F600}' < '\uFF5E', 'JavaScript orders by code unit');
  t.true(compareJson('\uFF5E', '\u{1F600}') < 0);
  t.true(compareJson('a\u{1F600}', 'a\uFFFF') > 0);
});

// --- validation -----------------------------------------------------------------------

test('validate names the failing location with ajv’s message', (t) => {
  const s = schemaOf({
    type: 'object',
    required: ['id'],
    properties: {
      id: { type: 'integer' },
      vendor: { type: 'object', properties: { name: { type: 'string' } } },
      tier: { enum: ['gold', 'silver'] },
      ts: { type: 'string', format: 'date-time' },
    },
  });
  t.is(s.validate({ id: 1, vendor: { name: 'UPS' } }), null);
  t.is(s.validate({ id: 1, vendor: { name: 7 } }), '/vendor/name: must be string');
  t.is(s.validate({ vendor: {} }), '/id: is required');
  t.is(s.validate([]), '(root): must be object');
  t.is(s.validate({ id: 1, tier: 'bronze' }), '/tier: must be one of "gold", "silver"');
  t.is(s.validate({ id: 1, ts: 'yesterday' }), '/ts: must match format "date-time"');
});

// --- strategies -----------------------------------------------------------------------

test('lastWriteWins is the default where nothing is annotated', (t) => {
  const s = schemaOf({ type: 'object', properties: { n: { type: 'integer' } } });
  t.deepEqual(reduceAll(s, [{ n: 1, a: 1 }, { n: 2 }]), { n: 2 });
  assertAssociative(t, s, fc.jsonValue());
});

test('firstWriteWins keeps the first value', (t) => {
  const s = schemaOf({ reduce: { strategy: 'merge' }, properties: { first: { reduce: { strategy: 'firstWriteWins' } } } });
  t.deepEqual(reduceAll(s, [{ first: 'a' }, { first: 'b', other: 1 }, { first: { x: 1 } }]), { first: 'a', other: 1 });
  assertAssociative(t, schemaOf({ reduce: { strategy: 'firstWriteWins' } }), fc.jsonValue());
});

test('append concatenates arrays, and a null lhs takes the rhs', (t) => {
  const s = schemaOf({ reduce: { strategy: 'append' } });
  t.deepEqual(reduceAll(s, [[1, 2], [3, null, 'abc'], []]), [1, 2, 3, null, 'abc']);
  t.deepEqual(s.reduce(null, [1]), [1]);
  assertAssociative(t, s, fc.array(fc.jsonValue(), { maxLength: 4 }));
});

test('sum adds numbers, keeps integers exact, and fails where it cannot', (t) => {
  const s = schemaOf({ reduce: { strategy: 'sum' } });
  t.is(reduceAll(s, [5, -1.25, 10]), 13.75);
  t.is(s.reduce(null, 3), 3);
  t.is(s.reduce(Number.MAX_SAFE_INTEGER - 1, 1), Number.MAX_SAFE_INTEGER);
  t.throws(() => s.reduce(Number.MAX_SAFE_INTEGER, 1), { code: 'REDUCE_FAILED', message: /beyond the exactly representable integers/ });
  // An operand already beyond 2^53 was summed inexactly (issue 16.7).
  t.throws(() => s.reduce(2 ** 55, 1), { code: 'REDUCE_FAILED', message: /beyond the exactly representable integers/ });
  t.throws(() => s.reduce(Number.MAX_VALUE, Number.MAX_VALUE), { code: 'REDUCE_FAILED', message: /overflows/ });
  // Integer sums are exact, so associative; float sums are only up to rounding.
  assertAssociative(t, s, fc.integer({ min: -1e12, max: 1e12 }));
});

const mergeSchema = {
  type: 'object',
  reduce: { strategy: 'merge' },
  properties: {
    count: { type: 'integer', reduce: { strategy: 'sum' } },
    events: { type: 'array', reduce: { strategy: 'append' } },
    first: { reduce: { strategy: 'firstWriteWins' } },
    nested: {
      type: 'object',
      reduce: { strategy: 'merge' },
      additionalProperties: { type: 'integer', reduce: { strategy: 'sum' } },
    },
  },
};

test('merge reduces objects deeply, each property by its own strategy', (t) => {
  const s = schemaOf(mergeSchema);
  t.deepEqual(
    reduceAll(s, [
      { count: 1, events: ['a'], first: 'x', nested: { p: 1 }, label: 'one' },
      { count: 2, events: ['b'], first: 'y', nested: { p: 2, q: 5 } },
      { count: 3, label: 'three' },
    ]),
    { count: 6, events: ['a', 'b'], first: 'x', nested: { p: 3, q: 5 }, label: 'three' },
  );
  const doc = fc.record(
    {
      count: fc.integer({ min: -1000, max: 1000 }),
      events: fc.array(fc.string(), { maxLength: 3 }),
      first: fc.jsonValue(),
      nested: fc.dictionary(fc.constantFrom('p', 'q', 'r', '__proto__'), fc.integer({ min: -100, max: 100 })),
      label: fc.jsonValue(),
    },
    { requiredKeys: [] },
  );
  assertAssociative(t, s, doc);
});

test('merge of arrays without a key reduces item by item, keeping the longer tail', (t) => {
  const s = schemaOf({ reduce: { strategy: 'merge' }, items: { reduce: { strategy: 'maximize' } } });
  t.deepEqual(reduceAll(s, [[0, 1, 0], [3, 0, 2], [-1, 0, 4, 'a']]), [3, 1, 4, 'a']);
  assertAssociative(t, s, fc.array(fc.integer({ min: -5, max: 5 }), { maxLength: 5 }));
});

const keyedSchema = {
  reduce: { strategy: 'merge', key: ['/k'] },
  items: { type: 'object', reduce: { strategy: 'merge' }, properties: { n: { reduce: { strategy: 'sum' } } } },
};
const keyedItem = fc.record({ k: fc.integer({ min: 0, max: 6 }), n: fc.integer({ min: -10, max: 10 }), tag: fc.constantFrom('x', 'y') }, { requiredKeys: ['k', 'n'] });

test('merge with a key is a sorted merge-join: sorted, unique, equal keys reducing', (t) => {
  const s = schemaOf(keyedSchema);
  t.deepEqual(
    reduceAll(s, [
      [{ k: 5, n: 1 }, { k: 9, n: 1 }],
      [{ k: 2, n: 1 }, { k: 5, n: 2, tag: 'x' }],
      [{ k: 10, n: 1 }, { k: 9, n: 7 }],
    ]),
    [{ k: 2, n: 1 }, { k: 5, n: 3, tag: 'x' }, { k: 9, n: 8 }, { k: 10, n: 1 }],
  );
  const natural = schemaOf({ reduce: { strategy: 'merge', key: [''] } });
  t.deepEqual(reduceAll(natural, [[5, 9], [7], [2, 4, 5]]), [2, 4, 5, 7, 9], 'the key "" orders scalars naturally');
  // Arrays are arbitrary here: unsorted, with duplicate keys.
  assertAssociative(t, s, fc.array(keyedItem, { maxLength: 5 }));
});

test('minimize and maximize keep the smaller and the larger value', (t) => {
  const min = schemaOf({ reduce: { strategy: 'minimize' } });
  const max = schemaOf({ reduce: { strategy: 'maximize' } });
  t.is(reduceAll(min, [3, 4, 2, 8]), 2);
  t.is(reduceAll(max, [3, 4, 2, 8, 'a']), 'a', 'strings order after numbers');
  t.deepEqual(reduceAll(min, [[1, 2], [1], null]), null);
  assertAssociative(t, min, fc.jsonValue());
  assertAssociative(t, max, fc.jsonValue());
});

test('minimize and maximize with a key compare keys, and merge ties deeply', (t) => {
  const item = { properties: { n: { reduce: { strategy: 'sum' } } } };
  const min = schemaOf({ ...item, reduce: { strategy: 'minimize', key: ['/k'] } });
  const max = schemaOf({ ...item, reduce: { strategy: 'maximize', key: ['/k'] } });
  t.deepEqual(reduceAll(min, [{ k: 3, n: 1 }, { k: 4, n: 1 }, { k: 3, n: 1, x: true }]), { k: 3, n: 2, x: true });
  t.deepEqual(reduceAll(min, [{ k: 3, n: 1 }, { n: 5 }]), { n: 5 }, 'an absent key orders first');
  t.deepEqual(reduceAll(max, [{ k: 3, n: 1 }, { k: 4, n: 1 }, { k: 4, n: 2 }, { k: 1, n: 9 }]), { k: 4, n: 3 });
  t.throws(() => max.reduce({ n: 1 }, 5), { code: 'REDUCE_FAILED', message: /^\(root\): maximize \(merging equal keys\) expects two objects or two arrays, but lhs is an object and rhs is a number/ });
  const doc = fc.record({ k: fc.integer({ min: 0, max: 3 }), n: fc.integer({ min: -10, max: 10 }), x: fc.boolean() }, { requiredKeys: ['n'] });
  assertAssociative(t, min, doc);
  assertAssociative(t, max, doc);
});

// --- set ------------------------------------------------------------------------------

// Members are [id, count] tuples keyed by id, with counts summed.
const setOfTuples = schemaOf({
  type: 'object',
  reduce: { strategy: 'set', key: ['/0'] },
  additionalProperties: {
    type: 'array',
    items: { type: 'array', reduce: { strategy: 'merge' }, prefixItems: [{ type: 'integer' }, { type: 'integer', reduce: { strategy: 'sum' } }] },
  },
});
const setOfCounts = schemaOf({
  type: 'object',
  reduce: { strategy: 'set' },
  additionalProperties: { type: 'object', additionalProperties: { type: 'integer', reduce: { strategy: 'sum' } } },
});

test('set of arrays: add, remove and intersect follow Flow’s rules, step by step', (t) => {
  const steps: [rhs: unknown, full: boolean, expect: unknown][] = [
    [{ add: [[10, 1]] }, false, { add: [[10, 1]] }],
    [{ add: [[20, 1]] }, false, { add: [[10, 1], [20, 1]] }],
    [{ remove: [[20]], add: [[5, 1], [10, 1]] }, false, { add: [[5, 1], [10, 2]], remove: [[20]] }],
    [{ remove: [[10]], add: [[5, 2], [10, 1]] }, false, { add: [[5, 3], [10, 1]], remove: [[10], [20]] }],
    // Full reductions drop remove.
    [{ remove: [[7]], add: [[3, 1], [5, 1]] }, true, { add: [[3, 1], [5, 4], [10, 1]] }],
    [{ remove: [[10]] }, true, { add: [[3, 1], [5, 4]] }],
    [{ intersect: [[5], [8]] }, false, { add: [[5, 4]], intersect: [[5], [8]] }],
    [{ add: [[5, 1], [8, 1]] }, false, { add: [[5, 5], [8, 1]], intersect: [[5], [8]] }],
    [{ intersect: [[8], [9]], add: [[5, 1], [8, 1]] }, false, { add: [[5, 1], [8, 2]], intersect: [[8]] }],
    [{ remove: [[8]], add: [[5, 1], [8, 1]] }, false, { add: [[5, 2], [8, 1]], intersect: [] }],
    // Full reductions drop intersect.
    [{ add: [[8, 1]] }, true, { add: [[5, 2], [8, 2]] }],
    [{ remove: [[8]] }, false, { add: [[5, 2]], remove: [[8]] }],
  ];
  let doc: unknown;
  steps.forEach(([rhs, full, expect], i) => {
    doc = setOfTuples.reduce(doc, rhs, { full });
    t.deepEqual(doc, expect, `step ${i + 1}`);
  });
});

test('set of objects: members keyed by property, values reduced', (t) => {
  const steps: [rhs: unknown, full: boolean, expect: unknown][] = [
    [{ add: { a: 1, b: 1 } }, false, { add: { a: 1, b: 1 } }],
    [{ remove: { b: 0 }, add: { c: 2 } }, false, { add: { a: 1, c: 2 }, remove: { b: 0 } }],
    [{ intersect: { a: 0, z: 0 }, add: { a: 5 } }, false, { add: { a: 6 }, intersect: { a: 0, z: 0 } }],
    [{ remove: { z: 0 } }, false, { add: { a: 6 }, intersect: { a: 0 } }],
    [{ add: { d: 1 } }, true, { add: { a: 6, d: 1 } }],
  ];
  let doc: unknown;
  steps.forEach(([rhs, full, expect], i) => {
    doc = setOfCounts.reduce(doc, rhs, { full });
    t.deepEqual(doc, expect, `step ${i + 1}`);
  });
});

test('set rejects other properties, mixed term types, and intersect with remove', (t) => {
  t.throws(() => setOfCounts.reduce({ add: {} }, { put: {} }), { code: 'REDUCE_FAILED', message: /only add, intersect and remove, but rhs has "put"/ });
  t.throws(() => setOfCounts.reduce({ add: {} }, { remove: [] }), { code: 'REDUCE_FAILED', message: /all arrays or all objects/ });
  t.throws(() => setOfCounts.reduce({ add: {} }, { intersect: {}, remove: {} }), { code: 'REDUCE_FAILED', message: /both intersect and remove/ });
  t.throws(() => setOfCounts.reduce({ add: {} }, ['a']), { code: 'REDUCE_FAILED', message: /^\(root\): set expects objects.*lhs is an object and rhs is an array/ });
});

const tupleTerm = fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: -5, max: 5 })), { maxLength: 4 });
const countTerm = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.integer({ min: -5, max: 5 }), { maxKeys: 4 });
function setDoc<T>(term: fc.Arbitrary<T>) {
  return fc.oneof(fc.record({ add: term, intersect: term }, { requiredKeys: [] }), fc.record({ add: term, remove: term }, { requiredKeys: [] }));
}

test('set reductions are associative, for arrays and objects', (t) => {
  assertAssociative(t, setOfTuples, setDoc(tupleTerm), 500);
  assertAssociative(t, setOfCounts, setDoc(countTerm), 500);
});

test('a full reduction of combined updates equals applying them one by one', (t) => {
  for (const [s, term] of [
    [setOfTuples, tupleTerm],
    [setOfCounts, countTerm],
  ] as const) {
    fc.assert(
      fc.property(term as fc.Arbitrary<unknown>, setDoc(term as fc.Arbitrary<unknown>), setDoc(term as fc.Arbitrary<unknown>), (base, b, c) => {
        const prior = s.reduce(undefined, { add: base }, { full: true });
        const oneByOne = s.reduce(s.reduce(cloneJson(prior), b, { full: true }), c, { full: true });
        const combined = s.reduce(cloneJson(prior), s.reduce(cloneJson(b), c), { full: true });
        return isDeepStrictEqual(oneByOne, combined);
      }),
      { numRuns: 500 },
    );
  }
  t.pass();
});

// --- choosing strategies by schema branches -------------------------------------------

test('oneOf chooses the strategy by the branch the rhs document validates against', (t) => {
  const s = schemaOf({
    oneOf: [
      { properties: { action: { const: 'insert' } }, reduce: { strategy: 'firstWriteWins' } },
      { properties: { action: { const: 'update' } }, reduce: { strategy: 'lastWriteWins' } },
    ],
  });
  t.deepEqual(reduceAll(s, [{ action: 'insert', v: 1 }, { action: 'insert', v: 2 }]), { action: 'insert', v: 1 });
  t.deepEqual(reduceAll(s, [{ action: 'insert', v: 1 }, { action: 'update', v: 3 }]), { action: 'update', v: 3 });
});

test('if / then / else chooses the strategy by the rhs document', (t) => {
  const s = schemaOf({
    if: { type: 'null' },
    then: { reduce: { strategy: 'lastWriteWins' } },
    else: { reduce: { strategy: 'merge', key: [''] } },
  });
  t.deepEqual(reduceAll(s, [[5, 9], [7]]), [5, 7, 9]);
  t.is(reduceAll(s, [[5, 9], null]), null);
  t.deepEqual(reduceAll(s, [[5, 9], null, [1]]), [1], 'a null lhs counts as absent for merge');
});

test('anyOf takes annotations from every branch that validates, the last one winning', (t) => {
  const s = schemaOf({
    type: 'object',
    reduce: { strategy: 'merge' },
    anyOf: [{ properties: { a: { reduce: { strategy: 'sum' } } } }, { required: ['b'], properties: { a: { reduce: { strategy: 'maximize' } } } }],
    properties: { c: { anyOf: [{ type: 'string' }, { type: 'integer', reduce: { strategy: 'maximize' } }] } },
  });
  t.deepEqual(reduceAll(s, [{ a: 5, c: 5 }, { a: 2, c: 3 }]), { a: 7, c: 5 });
  t.deepEqual(reduceAll(s, [{ a: 5, c: 5 }, { a: 2, b: 1, c: 'x' }]), { a: 5, b: 1, c: 'x' });
});

test('$ref follows into $defs, other resources and relative URIs', (t) => {
  const common = {
    $defs: {
      counter: { type: 'integer', reduce: { strategy: 'sum' } },
      doc: { type: 'object', reduce: { strategy: 'merge' }, properties: { n: { $ref: '#/$defs/counter' }, tags: { $ref: 'test.yaml#/$defs/tags' } } },
    },
  };
  const resources = [{ uri: 'file:///schemas/common.yaml', schema: common }];
  const s = schemaOf(
    {
      type: 'object',
      reduce: { strategy: 'merge' },
      properties: { a: { $ref: 'common.yaml#/$defs/counter' }, b: { $ref: '#/$defs/tags' } },
      $defs: { tags: { type: 'array', reduce: { strategy: 'append' } } },
    },
    resources,
  );
  t.deepEqual(reduceAll(s, [{ a: 1, b: ['x'] }, { a: 2, b: ['y'] }]), { a: 3, b: ['x', 'y'] });
  t.is(s.validate({ a: 'one' }), '/a: must be integer');

  // A collection schema that is only a reference, resolved against its own URI.
  const byRef = CollectionSchema.compile({
    uri: 'file:///schemas/test.yaml',
    root: { $ref: 'common.yaml#/$defs/doc', $defs: { tags: { type: 'array', reduce: { strategy: 'append' } } } },
    resources,
  });
  t.deepEqual(reduceAll(byRef, [{ n: 1, tags: ['a'] }, { n: 4, tags: ['b'] }]), { n: 5, tags: ['a', 'b'] });
});

test('a recursive schema reduces at every depth', (t) => {
  const s = schemaOf({
    $ref: '#/$defs/node',
    $defs: {
      node: { type: 'object', reduce: { strategy: 'merge' }, properties: { hits: { reduce: { strategy: 'sum' } }, child: { $ref: '#/$defs/node' } } },
    },
  });
  t.deepEqual(reduceAll(s, [{ hits: 1, child: { hits: 1, child: { hits: 1 } } }, { hits: 1, child: { hits: 2, child: { hits: 3 } } }]), {
    hits: 2,
    child: { hits: 3, child: { hits: 4 } },
  });
});

test('2019-09 tuple items and additionalItems, and 2020-12 prefixItems and items, locate annotations', (t) => {
  const s2019 = schemaOf({
    $schema: 'https://json-schema.org/draft/2019-09/schema',
    reduce: { strategy: 'merge' },
    items: [{}, { reduce: { strategy: 'sum' } }],
    additionalItems: { reduce: { strategy: 'maximize' } },
  });
  const s2020 = schemaOf({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    reduce: { strategy: 'merge' },
    prefixItems: [{}, { reduce: { strategy: 'sum' } }],
    items: { reduce: { strategy: 'maximize' } },
  });
  for (const s of [s2019, s2020]) t.deepEqual(reduceAll(s, [[1, 2, 3], [4, 5, 1]]), [4, 7, 3]);
  t.throws(() => schemaOf({ $schema: 'https://json-schema.org/draft/2019-09/schema', prefixItems: [{}] }), { code: 'INVALID_SCHEMA', message: /prefixItems/ });
});

// --- errors ---------------------------------------------------------------------------

test('a strategy meeting the wrong types fails naming the location and both types', (t) => {
  const s = schemaOf({
    type: 'object',
    reduce: { strategy: 'merge' },
    properties: {
      totals: { reduce: { strategy: 'merge' }, properties: { n: { reduce: { strategy: 'sum' } } } },
      events: { reduce: { strategy: 'append' } },
      meta: { reduce: { strategy: 'merge' } },
      'a/b': { reduce: { strategy: 'sum' } },
    },
  });
  const fails = (lhs: unknown, rhs: unknown, message: RegExp) => {
    const err = t.throws(() => s.reduce(lhs, rhs), { instanceOf: InletError, message });
    t.is(err?.code, 'REDUCE_FAILED');
  };
  fails({ totals: { n: 'one' } }, { totals: { n: 1 } }, /^\/totals\/n: sum expects numbers, but lhs is a string and rhs is a number$/);
  fails({ events: {} }, { events: [1] }, /^\/events: append expects arrays, but lhs is an object and rhs is an array$/);
  fails({ meta: 5 }, { meta: { a: 1 } }, /^\/meta: merge expects two objects or two arrays, but lhs is a number and rhs is an object$/);
  fails({ 'a/b': true }, { 'a/b': 1 }, /^\/a~1b: sum expects numbers, but lhs is a boolean/);
  fails([], {}, /^\(root\): merge expects/);
});

test('compiling rejects bad annotations, unknown keywords, unresolvable references and other drafts', (t) => {
  const rejects = (root: object, message: RegExp) => t.throws(() => schemaOf(root), { code: 'INVALID_SCHEMA', message });
  rejects({ reduce: { strategy: 'average' } }, /reduce/);
  rejects({ reduce: { strategy: 'merge', key: ['k'] } }, /reduce/);
  rejects({ reduce: { strategy: 'merge', extra: 1 } }, /reduce/);
  rejects({ reduce: { strategy: 'sum', key: ['/k'] } }, /strategy sum takes no key/);
  rejects({ $defs: { unused: { reduce: { strategy: 'average' } } } }, /\$defs\/unused\/reduce/);
  rejects({ colour: 'red' }, /unknown keyword/);
  rejects({ properties: { a: { $ref: '#/$defs/missing' } } }, /missing/);
  rejects({ $ref: 'other.yaml' }, /other\.yaml/);
  rejects({ $schema: 'http://json-schema.org/draft-07/schema#' }, /draft-07.*not supported/);
  t.throws(() => CollectionSchema.compile({ root: {}, uri: 'relative.yaml' }), { code: 'INVALID_SCHEMA', message: /absolute URI/ });
});

// --- ownership and cost ---------------------------------------------------------------

test('an absent lhs yields a copy of rhs; reduce never modifies rhs', (t) => {
  const s = schemaOf(mergeSchema);
  const rhs = { count: 1, events: ['a'], nested: { p: 1 } };
  const first = s.reduce(undefined, rhs) as typeof rhs;
  t.deepEqual(first, rhs);
  t.not(first, rhs);
  const second = deepFreeze({ count: 2, events: ['b'], nested: { p: 2 }, extra: { deep: [1] } });
  const out = s.reduce(first, second) as Record<string, unknown>;
  t.deepEqual(out, { count: 3, events: ['a', 'b'], nested: { p: 3 }, extra: { deep: [1] } });
  t.not(out.extra, second.extra, 'what the result takes of rhs, it copies');
  t.deepEqual(rhs, { count: 1, events: ['a'], nested: { p: 1 } });
});

test('schemas without branches resolve strategies without validating anything', (t) => {
  const calls: string[] = [];
  const plain = { reduce: { strategy: 'merge' }, properties: { a: { $ref: '#/$defs/n' } }, $defs: { n: { reduce: { strategy: 'sum' } } } };
  const branched = { reduce: { strategy: 'merge' }, properties: { a: { anyOf: [{ type: 'string' }, { reduce: { strategy: 'sum' } }] } } };
  for (const [schema, expected] of [
    [plain, 0],
    [branched, 2],
  ] as const) {
    calls.length = 0;
    const { roots } = indexSchemas([{ uri: URI, schema }], '2020-12', () => null);
    const space = new LocationSpace((node) => (calls.push(node.uri), true));
    const root = space.at([roots[0]!]);
    t.is(root.resolve({ a: 1 }).property('a').resolve(1).strategy.strategy, 'sum');
    t.is(calls.length, expected);
  }
});
