import test from 'ava';
import fc from 'fast-check';
import { Combiner } from '../src/doc/combine.js';
import { compareByKeys, packKey } from '../src/doc/json.js';
import { CollectionSchema } from '../src/doc/schema.js';

const orders = CollectionSchema.compile({
  uri: 'file:///schemas/orders.yaml',
  root: {
    type: 'object',
    reduce: { strategy: 'merge' },
    required: ['id'],
    properties: {
      id: { type: 'integer' },
      region: { type: 'string' },
      total: { type: 'number', reduce: { strategy: 'sum' } },
      items: { type: 'array', reduce: { strategy: 'append' } },
    },
  },
});

test('documents of one key reduce into one; drain gives them in key order and empties the combiner', (t) => {
  const c = new Combiner(orders, ['/id']);
  c.add({ id: 3, total: 1, items: ['a'] });
  c.add({ id: 1, total: 5 });
  c.add({ id: 3, total: 2, items: ['b'], region: 'eu' });
  c.add({ id: 2, total: 1 });
  c.add({ id: 3, total: 4 });
  t.is(c.size, 3);
  t.deepEqual(c.drain(), [
    { id: 1, total: 5 },
    { id: 2, total: 1 },
    { id: 3, total: 7, items: ['a', 'b'], region: 'eu' },
  ]);
  t.is(c.size, 0);
  t.deepEqual(c.drain(), []);
  c.add({ id: 3, total: 1 });
  t.deepEqual(c.drain(), [{ id: 3, total: 1 }], 'nothing of an earlier drain remains');
});

test('a composite key groups by every part and orders by each part in turn', (t) => {
  const c = new Combiner(orders, ['/region', '/id']);
  for (const doc of [
    { region: 'us', id: 1, total: 1 },
    { region: 'eu', id: 2, total: 1 },
    { region: 'eu', id: 1, total: 1 },
    { region: 'us', id: 1, total: 1 },
    { id: 9, total: 1 },
    { region: 'eu', id: 10, total: 1 },
  ]) {
    c.add(doc);
  }
  t.deepEqual(
    c.drain().map((d) => [(d as { region?: string }).region, (d as { id: number }).id, (d as { total: number }).total]),
    [
      [undefined, 9, 1], // An absent key part orders first.
      ['eu', 1, 1],
      ['eu', 2, 1],
      ['eu', 10, 1], // Numbers order by value, not as text.
      ['us', 1, 2],
    ],
  );
});

test('key values equal as JSON are one key, whatever their property order', (t) => {
  const c = new Combiner(orders, ['/ref']);
  c.add({ id: 1, ref: { a: 1, b: [1, 2] }, total: 1 });
  c.add({ id: 1, ref: { b: [1, 2], a: 1 }, total: 2 });
  c.add({ id: 1, ref: { a: 1, b: [2, 1] }, total: 4 });
  t.deepEqual(
    c.drain().map((d) => (d as { total: number }).total),
    [3, 4],
  );
  t.not(packKey({ k: null }, ['/k']), packKey({}, ['/k']), 'null and absent are different keys');
});

test('add neither keeps nor modifies the documents it is given', (t) => {
  const c = new Combiner(orders, ['/id']);
  const first = { id: 1, total: 1, items: ['a'] };
  const second = Object.freeze({ id: 1, total: 2, items: Object.freeze(['b']) });
  c.add(first);
  c.add(second);
  const [out] = c.drain() as (typeof first)[];
  t.deepEqual(out, { id: 1, total: 3, items: ['a', 'b'] });
  t.deepEqual(first, { id: 1, total: 1, items: ['a'] });
  t.not(out, first);
});

test('a failing reduction surfaces from add as REDUCE_FAILED naming the location', (t) => {
  const c = new Combiner(orders, ['/id']);
  c.add({ id: 1, total: 1 });
  c.add({ id: 2, total: 'two' }); // The first of its key: nothing to reduce yet.
  t.throws(() => c.add({ id: 1, total: 'one' }), { code: 'REDUCE_FAILED', message: '/total: sum expects numbers, but lhs is a number and rhs is a string' });
  t.throws(() => c.add({ id: 2, total: 2 }), { code: 'REDUCE_FAILED', message: /^\/total: sum expects numbers, but lhs is a string and rhs is a number$/ });
});

test('combining equals reducing each key’s documents in order, for any mix of keys', (t) => {
  const doc = fc.record({ id: fc.integer({ min: 0, max: 5 }), total: fc.integer({ min: -100, max: 100 }), items: fc.array(fc.string(), { maxLength: 2 }) });
  fc.assert(
    fc.property(fc.array(doc, { maxLength: 30 }), (docs) => {
      const c = new Combiner(orders, ['/id']);
      docs.forEach((d) => c.add(d));
      const out = c.drain() as { id: number; total: number; items: string[] }[];
      const ids = [...new Set(docs.map((d) => d.id))].sort((a, b) => a - b);
      const expected = ids.map((id) => {
        const mine = docs.filter((d) => d.id === id);
        return { id, total: mine.reduce((n, d) => n + d.total, 0), items: mine.flatMap((d) => d.items) };
      });
      return JSON.stringify(out) === JSON.stringify(expected) && out.every((d, i) => i === 0 || compareByKeys(out[i - 1], d, ['/id']) < 0);
    }),
  );
  t.pass();
});

test('documents share a key exactly when their key values pack equal, whatever their types (1, "1", -0, 0, objects), for one pointer and several', (t) => {
  const loose = CollectionSchema.compile({ uri: 'file:///schemas/loose.yaml', root: { reduce: { strategy: 'merge' }, properties: { n: { reduce: { strategy: 'sum' } } } } });
  const value = fc.oneof(
    fc.constantFrom(0, -0, 1, 1.5, '1', '0', '-0', '1.5', true, 'true', null, 'null', { a: 1 }, '{"a":1}', [1], '[1]'),
    fc.integer({ min: -3, max: 3 }),
  );
  const doc = fc.record({ k: value, j: value });
  fc.assert(
    fc.property(fc.array(doc, { maxLength: 25 }), fc.constantFrom(['/k'], ['/k', '/j']), (docs, key) => {
      const c = new Combiner(loose, key);
      docs.forEach((d) => c.add({ ...d, n: 1 }));
      const out = c.drainCounted();
      const groups = new Map<string, number>();
      for (const d of docs) groups.set(packKey(d, key), (groups.get(packKey(d, key)) ?? 0) + 1);
      return (
        out.length === groups.size &&
        out.every((h) => (h.doc as { n: number }).n === groups.get(packKey(h.doc, key)) && h.adds === groups.get(packKey(h.doc, key))) &&
        out.every((h, i) => i === 0 || compareByKeys(out[i - 1]!.doc, h.doc, key) < 0)
      );
    }),
  );
  t.pass();
});

test('documents come out in the order of their keys as held: after a reduction changed a key location, and whatever the caller does to what it added', (t) => {
  const summed = CollectionSchema.compile({ uri: 'file:///schemas/summed.yaml', root: { reduce: { strategy: 'merge' }, properties: { k: { reduce: { strategy: 'sum' } } } } });
  const c = new Combiner(summed, ['/k']);
  c.add({ k: 1 });
  c.add({ k: 1 });
  c.add({ k: 1.5 });
  t.deepEqual(c.drain(), [{ k: 1.5 }, { k: 2 }]);
  const plain = CollectionSchema.compile({ uri: 'file:///schemas/plain.yaml', root: { reduce: { strategy: 'lastWriteWins' } } });
  const d = new Combiner(plain, ['/o']);
  const a = { o: { x: 1 } };
  d.add(a);
  d.add({ o: { x: 2 } });
  a.o.x = 3;
  t.deepEqual(d.drain(), [{ o: { x: 1 } }, { o: { x: 2 } }]);
});

test('NaN and infinite key values are one key with null, as canonical JSON writes them', (t) => {
  const plain = CollectionSchema.compile({ uri: 'file:///schemas/plain.yaml', root: { reduce: { strategy: 'merge' }, properties: { n: { reduce: { strategy: 'sum' } } } } });
  const c = new Combiner(plain, ['/k']);
  for (const k of [NaN, null, Infinity, -Infinity]) c.add({ k, n: 1 });
  c.add({ k: 0, n: 1 });
  t.deepEqual(
    c.drainCounted().map((h) => h.adds),
    [4, 1],
  );
});
