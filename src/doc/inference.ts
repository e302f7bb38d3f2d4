import type { JsonType } from '../protocol/collections.js';
import { isObject } from './json.js';

export type { JsonType } from '../protocol/collections.js';

/** A schema and the URI its relative `$ref`s resolve against. */
export interface Scoped {
  readonly schema: unknown;
  readonly base: string;
}

/** Finds the schema a `$ref` names, or undefined when it cannot. */
export type Resolver = (ref: string, base: string) => Scoped | undefined;

/** What a schema proves about one location of every document it accepts. */
export interface Inferred {
  /** The location exists in every valid document. */
  readonly required: boolean;
  /** The types its value may have; undefined when the schema does not constrain them. */
  readonly types: ReadonlySet<JsonType> | undefined;
  /** The string `format` (like `date-time`) every schema branch gives it, if any. */
  readonly format?: string;
}

// Past this many combinations of anyOf/oneOf branches, give up proving (and say "not proven").
const BRANCH_BUDGET = 512;

/**
 * What `root` proves about the location `tokens` (a JSON pointer's tokens), as Flow's static
 * checks do: a property exists when its parent is typed `object` and lists it in `required`.
 * Walks `properties`, `patternProperties` and `additionalProperties`, through `$ref` and
 * `allOf` (all hold) and `anyOf`/`oneOf` (each branch must prove it). References resolve as
 * `resolve` finds them (the bundle's SchemaResources: pointers, `$id`s, anchors); what cannot be
 * resolved proves nothing, so the answer errs toward "not required".
 */
export function inferLocation(root: Scoped, tokens: readonly string[], resolve: Resolver): Inferred {
  const budget = { left: BRANCH_BUDGET };
  return infer([root], tokens, resolve, budget);
}

interface Flat {
  plain: Scoped[];
  choices: Scoped[][];
}

function infer(schemas: Scoped[], tokens: readonly string[], resolve: Resolver, budget: { left: number }): Inferred {
  const seen = new Set<unknown>();
  return combine(flatten(schemas, resolve, seen), seen, tokens, resolve, budget);
}

/** The schemas that all apply to one instance, with the anyOf/oneOf choices among them. */
function flatten(schemas: Scoped[], resolve: Resolver, seen: Set<unknown>, into: Flat = { plain: [], choices: [] }): Flat {
  for (const s of schemas) {
    if (s.schema === false) into.plain.push(s);
    if (!isObject(s.schema) || seen.has(s.schema)) continue;
    seen.add(s.schema);
    into.plain.push(s);
    const { $ref, allOf, anyOf, oneOf } = s.schema;
    const target = typeof $ref === 'string' ? resolve($ref, s.base) : undefined;
    if (target) flatten([target], resolve, seen, into);
    if (Array.isArray(allOf)) flatten(allOf.map((schema: unknown) => ({ schema, base: s.base })), resolve, seen, into);
    for (const branches of [anyOf, oneOf]) {
      if (Array.isArray(branches)) into.choices.push(branches.map((schema: unknown) => ({ schema, base: s.base })));
    }
  }
  return into;
}

function combine(flat: Flat, seen: Set<unknown>, tokens: readonly string[], resolve: Resolver, budget: { left: number }): Inferred {
  if (--budget.left < 0) return { required: false, types: undefined };
  const [choice, ...rest] = flat.choices;
  if (choice) {
    // (A and (B or C)) proves what (A and B) and (A and C) both prove.
    let out: Inferred | undefined;
    for (const branch of choice) {
      const branchSeen = new Set(seen);
      const more = flatten([branch], resolve, branchSeen, { plain: [...flat.plain], choices: [...rest] });
      const got = combine(more, branchSeen, tokens, resolve, budget);
      out = out ? union(out, got) : got;
    }
    return out ?? { required: false, types: undefined };
  }
  // No document satisfies `false`, so anything holds of the documents that do.
  if (flat.plain.some((s) => s.schema === false)) return { required: true, types: new Set() };
  const types = flat.plain.reduce<Set<JsonType> | undefined>((acc, s) => intersect(acc, ownTypes(s.schema as Record<string, unknown>)), undefined);
  const [head, ...below] = tokens;
  if (head === undefined) {
    const format = flat.plain.map((s) => (s.schema as Record<string, unknown>).format).find((f) => typeof f === 'string');
    return format === undefined ? { required: true, types } : { required: true, types, format };
  }
  // `required` binds only objects: without `type: object`, a string would pass it.
  const isObject = types !== undefined && types.size === 1 && types.has('object');
  const listed = flat.plain.some((s) => {
    const req = (s.schema as Record<string, unknown>).required;
    return Array.isArray(req) && req.includes(head);
  });
  const subs = flat.plain.flatMap((s) => applicable(s, head));
  const inner = subs.length ? infer(subs, below, resolve, budget) : { required: below.length === 0, types: undefined };
  return { ...inner, required: isObject && listed && inner.required };
}

/** The subschemas that apply to property `name` of an object. */
function applicable(s: Scoped, name: string): Scoped[] {
  const schema = s.schema as Record<string, unknown>;
  const out: Scoped[] = [];
  const { properties, patternProperties, additionalProperties } = schema;
  if (isObject(properties) && Object.hasOwn(properties, name)) out.push({ schema: properties[name], base: s.base });
  if (isObject(patternProperties)) {
    for (const [pattern, sub] of Object.entries(patternProperties)) {
      if (matches(pattern, name)) out.push({ schema: sub, base: s.base });
    }
  }
  if (out.length === 0 && additionalProperties !== undefined) out.push({ schema: additionalProperties, base: s.base });
  return out;
}

/** The types a schema's own `type`, `const` and `enum` allow. */
function ownTypes(schema: Record<string, unknown>): Set<JsonType> | undefined {
  let out: Set<JsonType> | undefined;
  const { type } = schema;
  if (typeof type === 'string' || Array.isArray(type)) {
    const named = new Set<JsonType>();
    for (const t of [type].flat()) {
      if (t === 'number') named.add('integer').add('number');
      else named.add(t as JsonType);
    }
    out = named;
  }
  if ('const' in schema) out = intersect(out, new Set([typeOf(schema.const)]));
  if (Array.isArray(schema.enum)) out = intersect(out, new Set(schema.enum.map(typeOf)));
  return out;
}

function typeOf(v: unknown): JsonType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v as JsonType;
}

function intersect(a: Set<JsonType> | undefined, b: Set<JsonType> | undefined): Set<JsonType> | undefined {
  if (!a) return b;
  if (!b) return a;
  return new Set([...a].filter((t) => b.has(t)));
}

function union(a: Inferred, b: Inferred): Inferred {
  return {
    required: a.required && b.required,
    types: a.types && b.types ? new Set([...a.types, ...b.types]) : undefined,
    ...(a.format !== undefined && a.format === b.format ? { format: a.format } : {}),
  };
}

function matches(pattern: string, name: string): boolean {
  try {
    return new RegExp(pattern, 'u').test(name);
  } catch {
    return false;
  }
}

/** A top-level property a schema declares, with the `description` its schema gives it. */
export interface DeclaredProperty {
  readonly name: string;
  readonly description?: string;
}

/**
 * The properties `root` declares at the top level of its documents (`properties` of the root
 * and of every schema that applies with it: `$ref`, `allOf`, and any `anyOf`/`oneOf` branch),
 * in declaration order, each once. Used to project a collection's fields by default, as Flow
 * does; whether each is required, and its types, come from `inferLocation`.
 */
export function declaredProperties(root: Scoped, resolve: Resolver): DeclaredProperty[] {
  const out = new Map<string, DeclaredProperty>();
  const seen = new Set<unknown>();
  const visit = (s: Scoped): void => {
    const flat = flatten([s], resolve, seen);
    for (const p of flat.plain) {
      const { properties } = p.schema as Record<string, unknown>;
      if (!isObject(properties)) continue;
      for (const [name, sub] of Object.entries(properties)) {
        if (out.has(name)) continue;
        const target = isObject(sub) && typeof sub.$ref === 'string' ? resolve(sub.$ref, p.base)?.schema : undefined;
        const description = [sub, target].map((x) => (isObject(x) ? x.description : undefined)).find((d) => typeof d === 'string');
        out.set(name, description === undefined ? { name } : { name, description: description as string });
      }
    }
    for (const choice of flat.choices) for (const branch of choice) visit(branch);
  };
  visit(root);
  return [...out.values()];
}
