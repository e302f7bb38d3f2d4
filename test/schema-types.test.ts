import test from 'ava';
import { SchemaTypes } from '../src/derive/schema-types.js';

const URI = 'file:///catalog/x.schema.yaml';
const typeOf = (schema: unknown) => {
  const types = new SchemaTypes();
  return { type: types.typeOf({ root: schema, uri: URI, resources: [{ uri: URI, schema }] }), types };
};
const flat = (s: string) => s.replace(/\s+/g, ' ');

test('objects list properties, optional unless required, with an index signature only for a schema of additionalProperties', (t) => {
  t.is(flat(typeOf({ type: 'object', properties: { a: { type: 'string' }, 'b-c': { type: 'integer' } }, required: ['a'] }).type), '{ a: string; "b-c"?: number; }');
  t.is(flat(typeOf({ type: 'object', additionalProperties: { type: 'integer' } }).type), '{ [k: string]: number; }');
  t.is(flat(typeOf({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'integer' } }).type), '{ a?: string; [k: string]: number | string; }');
  t.is(typeOf({ type: 'object' }).type, 'Record<string, unknown>');
});

test('scalars, nullable types, enums, consts, arrays and tuples', (t) => {
  t.is(typeOf({ type: ['string', 'null'] }).type, 'string | null');
  t.is(typeOf({ enum: ['a', 1, null] }).type, '"a" | 1 | null');
  t.is(typeOf({ const: true }).type, 'true');
  t.is(typeOf({ type: 'array', items: { type: ['string', 'null'] } }).type, '(string | null)[]');
  t.is(typeOf({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer' }], items: false }).type, '[string, number]');
  t.is(typeOf({ type: 'array' }).type, 'unknown[]');
  t.is(typeOf(true).type, 'unknown');
});

test('anyOf and oneOf are unions, allOf and $ref intersections; what is unconstrained is unknown', (t) => {
  t.is(typeOf({ oneOf: [{ type: 'string' }, { type: 'integer' }] }).type, 'string | number');
  t.is(flat(typeOf({ $defs: { n: { type: 'object', properties: { n: { type: 'integer' } } } }, allOf: [{ $ref: '#/$defs/n' }, { type: 'object', properties: { s: { type: 'string' } } }] }).type), '{ n?: number; } & { s?: string; }');
  t.is(typeOf({ description: 'anything' }).type, 'unknown');
});

test('a capitalized $anchor becomes anchors.<Name> where it is used, and its type is written once', (t) => {
  const schema = {
    type: 'object',
    properties: { subs: { type: 'array', items: { $ref: '#Sub' } }, lower: { $ref: '#inner' } },
    $defs: { sub: { $anchor: 'Sub', type: 'object', properties: { id: { type: 'string' } }, required: ['id'] }, inner: { $anchor: 'inner', type: 'integer' } },
  };
  const { type, types } = typeOf(schema);
  t.is(flat(type), '{ subs?: anchors.Sub[]; lower?: number; }');
  t.deepEqual([...types.anchors.keys()], ['Sub']);
  t.is(flat(types.anchorType('Sub')), '{ id: string; }');
});

test('a reference cycle becomes unknown where it recurs', (t) => {
  const schema = { $defs: { node: { type: 'object', properties: { next: { $ref: '#/$defs/node' } } } }, $ref: '#/$defs/node' };
  t.is(flat(typeOf(schema).type), '{ next?: unknown; }');
});
