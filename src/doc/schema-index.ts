import { InletError } from '../errors.js';
import { formatPointer, getPointer, isObject, parsePointer } from './json.js';

/** Drafts whose keywords the index understands. */
export type Draft = '2019-09' | '2020-12';

/** A `reduce` annotation, its key pointers parsed. */
export type Strategy =
  | { readonly strategy: 'append' | 'firstWriteWins' | 'lastWriteWins' | 'sum' }
  | { readonly strategy: 'merge' | 'minimize' | 'maximize' | 'set'; readonly key: readonly (readonly string[])[] };

export const STRATEGIES = ['append', 'firstWriteWins', 'lastWriteWins', 'maximize', 'merge', 'minimize', 'set', 'sum'] as const;
const KEYED = new Set(['maximize', 'merge', 'minimize', 'set']);

/** Meta-schema of the `reduce` keyword: ajv checks annotations against it, and so does the index. */
export const REDUCE_META_SCHEMA = {
  type: 'object',
  required: ['strategy'],
  properties: {
    strategy: { enum: [...STRATEGIES] },
    key: { type: 'array', items: { type: 'string', pattern: '^(/.*)?$' } },
  },
  additionalProperties: false,
};

/**
 * One (sub)schema, with the keywords that matter to reduction linked to other nodes.
 * `uri` addresses it for ajv (`<document>#<pointer>`), to validate the branches of
 * anyOf / oneOf / if against a document.
 */
export interface SchemaNode {
  readonly id: number;
  readonly uri: string;
  readonly schema: unknown;
  readonly strategy: Strategy | undefined;
  /** In-place applicators that always apply: $ref, $dynamicRef, $recursiveRef, allOf. */
  readonly inPlace: SchemaNode[];
  readonly anyOf: SchemaNode[];
  readonly oneOf: SchemaNode[];
  readonly if: SchemaNode | undefined;
  readonly then: SchemaNode | undefined;
  readonly else: SchemaNode | undefined;
  readonly dependentSchemas: [string, SchemaNode][];
  readonly properties: Map<string, SchemaNode>;
  readonly patternProperties: [RegExp, SchemaNode][];
  readonly additionalProperties: SchemaNode | undefined;
  readonly prefixItems: SchemaNode[];
  /** Items after prefixItems (2020-12 `items`; 2019-09 object `items` or `additionalItems`). */
  readonly items: SchemaNode | undefined;
}

/**
 * A collection's JSON schema with every schema document it references, ready to compile.
 *
 * `resources` holds each schema document of the bundle under its URI: first the document
 * `root` comes from, then every schema file reached by following `$ref`s. A schema file's URI
 * is its `file://` URL; an inline schema's URI is the catalog file's URL with the query
 * `?collection=<name>` (no fragment, so its own `#/…` refs and relative refs resolve).
 *
 * `root` is either that first document's object itself (a whole file, or an inline schema), or
 * `{ $ref: "<uri>#/pointer" }` when the catalog named a location inside a file. `uri` is the
 * URI of the first document. So registering every resource under its URI and then compiling
 * `root` resolves every `$ref`.
 */
export interface SchemaBundle {
  root: unknown;
  uri: string;
  resources?: { uri: string; schema: unknown }[];
}

/** A schema document by its absolute URI, as the bundle gives it. */
export interface SchemaDocument {
  readonly uri: string;
  readonly schema: unknown;
}

// Keywords whose value is one subschema, a list of them, or a map of them: the
// places a $ref or $anchor may point into.
const ONE = ['additionalProperties', 'propertyNames', 'items', 'additionalItems', 'contains', 'not', 'if', 'then', 'else', 'unevaluatedItems', 'unevaluatedProperties', 'contentSchema'];
const LIST = ['allOf', 'anyOf', 'oneOf', 'prefixItems', 'items'];
const MAP = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'];

/**
 * Builds the node graph of a bundle's documents: every subschema becomes a node and
 * references are resolved within the bundle (relative URIs against the base in scope,
 * fragments as JSON pointers or anchors). `$dynamicRef` and `$recursiveRef` resolve
 * statically, like `$ref`. Throws INVALID_SCHEMA naming an unresolvable reference or a
 * bad annotation.
 */
export function indexSchemas(
  documents: readonly SchemaDocument[],
  draft: Draft,
  checkAnnotation: (v: unknown) => string | null,
): { roots: SchemaNode[]; nodes: SchemaNode[] } {
  const nodes: SchemaNode[] = [];
  const resources = new SchemaResources(documents);
  const byObject = new Map<object, SchemaNode>();
  const pending: { node: SchemaNode; base: string }[] = [];
  let nextId = 0;

  const build = (schema: unknown, docUri: string, pointer: string[], base: string): SchemaNode => {
    const known = isObject(schema) ? byObject.get(schema) : undefined;
    if (known) return known;
    const s = isObject(schema) ? schema : {};
    if (typeof s.$id === 'string') base = resolveUri(s.$id, base, docUri, pointer);
    const node: SchemaNode = {
      id: nextId++,
      uri: `${docUri}#${formatPointer(pointer).split('/').map(encodeURIComponent).join('/')}`,
      schema,
      strategy: s.reduce === undefined ? undefined : parseStrategy(s.reduce, docUri, pointer, checkAnnotation),
      inPlace: [],
      anyOf: [],
      oneOf: [],
      if: undefined,
      then: undefined,
      else: undefined,
      dependentSchemas: [],
      properties: new Map(),
      patternProperties: [],
      additionalProperties: undefined,
      prefixItems: [],
      items: undefined,
    };
    nodes.push(node);
    if (isObject(schema)) byObject.set(schema, node);
    const mutable = node as { -readonly [K in keyof SchemaNode]: SchemaNode[K] };
    const sub = (keyword: string, ...rest: string[]) => build(getIn(s, keyword, rest), docUri, [...pointer, keyword, ...rest], base);
    const list = (keyword: string) => (Array.isArray(s[keyword]) ? (s[keyword] as unknown[]).map((_, i) => sub(keyword, String(i))) : []);
    const map = (keyword: string) => (isObject(s[keyword]) ? Object.keys(s[keyword] as object).map((k) => [k, sub(keyword, k)] as const) : []);

    mutable.inPlace.push(...list('allOf'));
    mutable.anyOf = list('anyOf');
    mutable.oneOf = list('oneOf');
    // An `if` without `then` or `else` chooses nothing: no need to validate it.
    if ('if' in s && ('then' in s || 'else' in s)) mutable.if = sub('if');
    if ('then' in s) mutable.then = sub('then');
    if ('else' in s) mutable.else = sub('else');
    mutable.dependentSchemas = map('dependentSchemas').map(([k, n]) => [k, n]);
    mutable.properties = new Map(map('properties'));
    mutable.patternProperties = map('patternProperties').map(([p, n]) => [new RegExp(p, 'u'), n]);
    if ('additionalProperties' in s) mutable.additionalProperties = sub('additionalProperties');
    if (draft === '2020-12') {
      mutable.prefixItems = list('prefixItems');
      if ('items' in s) mutable.items = sub('items');
    } else if (Array.isArray(s.items)) {
      mutable.prefixItems = list('items');
      if ('additionalItems' in s) mutable.items = sub('additionalItems');
    } else if ('items' in s) {
      mutable.items = sub('items');
    }
    // Definitions are built too, so references into them find their nodes.
    map('$defs');
    map('definitions');
    if (['$ref', '$dynamicRef', '$recursiveRef'].some((k) => typeof s[k] === 'string')) pending.push({ node, base });
    return node;
  };

  const resolve = (ref: string, base: string, from: SchemaNode): SchemaNode => {
    const target = resources.resolve(ref, base);
    if (!target) throw new InletError('INVALID_SCHEMA', `${from.uri}: cannot resolve $ref ${JSON.stringify(ref)} within the schema bundle`);
    return build(target.schema, target.uri, target.pointer, target.base);
  };

  const roots = documents.map((d) => build(d.schema, d.uri, [], d.uri));
  // Resolving may build nodes with references of their own, which join the queue.
  for (let i = 0; i < pending.length; i++) {
    const { node, base } = pending[i]!;
    const s = node.schema as Record<string, unknown>;
    for (const k of ['$ref', '$dynamicRef', '$recursiveRef']) {
      if (typeof s[k] === 'string') node.inPlace.unshift(resolve(s[k] as string, base, node));
    }
  }
  return { roots, nodes };
}

/** A subschema a reference names: its value, where it sits (document and pointer), and the base URI in scope there. */
export interface ResolvedRef {
  readonly schema: unknown;
  readonly uri: string;
  readonly pointer: string[];
  readonly base: string;
}

/**
 * The one resolver of references within a bundle's documents: every document by its URI,
 * every `$id` resource, every `$anchor` and `$dynamicAnchor`. Validation, reduction and type
 * inference all resolve `$ref` through it. Throws INVALID_SCHEMA for an `$id` that is no URI.
 */
export class SchemaResources {
  private readonly byUri = new Map<string, { schema: unknown; uri: string; pointer: string[] }>();

  constructor(documents: readonly SchemaDocument[]) {
    for (const d of documents) {
      this.byUri.set(d.uri, { schema: d.schema, uri: d.uri, pointer: [] });
      this.scan(d.schema, d.uri, [], d.uri);
    }
  }

  /**
   * The subschema `ref` names, resolved against `base`: a fragment is a JSON pointer or an
   * anchor. Undefined when it names nothing within the bundle.
   */
  resolve(ref: string, base: string): ResolvedRef | undefined {
    let target: URL;
    let fragment: string;
    let tokens: string[] = [];
    try {
      target = new URL(ref, base);
      fragment = decodeURIComponent(target.hash.slice(1));
      if (fragment.startsWith('/')) tokens = parsePointer(fragment);
    } catch {
      return undefined;
    }
    target.hash = '';
    const isPointer = fragment === '' || fragment.startsWith('/');
    const resource = this.byUri.get(isPointer ? target.href : `${target.href}#${fragment}`);
    if (!resource) return undefined;
    const schema = getPointer(resource.schema, tokens);
    if (schema === undefined) return undefined;
    return { schema, uri: resource.uri, pointer: [...resource.pointer, ...tokens], base: target.href };
  }

  private scan(schema: unknown, docUri: string, pointer: string[], base: string): void {
    if (!isObject(schema)) return;
    if (typeof schema.$id === 'string') {
      base = resolveUri(schema.$id, base, docUri, pointer);
      this.byUri.set(base, { schema, uri: docUri, pointer });
    }
    for (const anchor of [schema.$anchor, schema.$dynamicAnchor]) {
      if (typeof anchor === 'string') this.byUri.set(`${base}#${anchor}`, { schema, uri: docUri, pointer });
    }
    forEachSubschema(schema, pointer, (sub, subPointer) => this.scan(sub, docUri, subPointer, base));
  }
}

function getIn(s: Record<string, unknown>, keyword: string, rest: string[]): unknown {
  let v: unknown = s[keyword];
  for (const k of rest) v = (v as Record<string, unknown>)[k];
  return v;
}

function forEachSubschema(s: Record<string, unknown>, pointer: string[], fn: (sub: unknown, pointer: string[]) => void): void {
  for (const k of ONE) if (isObject(s[k])) fn(s[k], [...pointer, k]);
  for (const k of LIST) if (Array.isArray(s[k])) (s[k] as unknown[]).forEach((sub, i) => fn(sub, [...pointer, k, String(i)]));
  for (const k of MAP) if (isObject(s[k])) for (const [p, sub] of Object.entries(s[k] as object)) fn(sub, [...pointer, k, p]);
}

function resolveUri(id: string, base: string, docUri: string, pointer: string[]): string {
  try {
    const url = new URL(id, base);
    url.hash = '';
    return url.href;
  } catch {
    throw new InletError('INVALID_SCHEMA', `${docUri}#${formatPointer(pointer)}: $id ${JSON.stringify(id)} is not a valid URI`);
  }
}

function parseStrategy(value: unknown, docUri: string, pointer: string[], check: (v: unknown) => string | null): Strategy {
  const at = `${docUri}#${formatPointer(pointer)}/reduce`;
  const why = check(value);
  if (why !== null) throw new InletError('INVALID_SCHEMA', `${at}: ${why}`);
  const { strategy, key } = value as { strategy: Strategy['strategy']; key?: string[] };
  if (!KEYED.has(strategy)) {
    if (key !== undefined) throw new InletError('INVALID_SCHEMA', `${at}: strategy ${strategy} takes no key`);
    return { strategy } as Strategy;
  }
  return { strategy, key: (key ?? []).map(parsePointer) } as Strategy;
}
