import type { ErrorObject, Options, ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { InletError } from '../errors.js';
import { formatPointer, isObject } from './json.js';
import { LocationSpace, type Location } from './locations.js';
import { reduceAt } from './reduce.js';
import { indexSchemas, REDUCE_META_SCHEMA, type Draft, type SchemaBundle, type SchemaDocument, type SchemaNode } from './schema-index.js';

const DRAFTS: Record<string, Draft> = {
  'json-schema.org/draft/2019-09/schema': '2019-09',
  'json-schema.org/draft/2020-12/schema': '2020-12',
};

const AJV_OPTIONS: Options = {
  // Unknown keywords are mistakes; `type`-less subschemas (common in branches) are not.
  strictSchema: true,
  strictNumbers: true,
  strictTypes: false,
  strictTuples: false,
  strictRequired: false,
  allErrors: false,
  useDefaults: false,
  coerceTypes: false,
  // Documents are parsed JSON: `constructor` or `toString` are properties only if the document has them.
  ownProperties: true,
};

/**
 * A collection's compiled schema: validation (ajv, draft 2020-12 or 2019-09 by
 * `$schema`) and reduction by its `reduce` annotations. Immutable once compiled.
 */
export class CollectionSchema {
  private constructor(
    private readonly validator: ValidateFunction,
    private readonly root: Location,
  ) {}

  /**
   * Compiles a bundle, every schema in it once. Throws INVALID_SCHEMA naming the problem:
   * an unsupported `$schema`, a schema ajv rejects (strict: unknown keywords fail), a
   * reference that does not resolve within the bundle, or a bad `reduce` annotation.
   */
  static compile(bundle: SchemaBundle): CollectionSchema {
    try {
      const { validator, root } = build(bundle);
      return new CollectionSchema(validator, root);
    } catch (err) {
      if (err instanceof InletError) throw err;
      throw new InletError('INVALID_SCHEMA', (err as Error)?.message ?? String(err), { cause: err });
    }
  }

  /** null if `doc` is valid, else one line naming the failing location: `/vendor/name: must be string`. */
  validate(doc: unknown): string | null {
    return this.validator(doc) ? null : describeErrors(this.validator.errors ?? []);
  }

  /**
   * Reduces rhs into lhs by the `reduce` annotations of the schema branches rhs validates
   * against, and returns the result. An absent (undefined) lhs yields a copy of rhs.
   * lhs is consumed: it may be modified and returned, so pass a copy to keep it. rhs is
   * never modified and the result shares nothing with it. `full` says lhs is the complete
   * prior document, which lets `set` drop its intersect / remove terms. Throws
   * REDUCE_FAILED naming the location when a strategy meets the wrong types; lhs may then
   * be partly reduced.
   */
  reduce(lhs: unknown, rhs: unknown, opts?: { full?: boolean }): unknown {
    return reduceAt(this.root, lhs, rhs, { full: opts?.full ?? false, path: [] });
  }
}

function build(bundle: SchemaBundle): { validator: ValidateFunction; root: Location } {
  if (!isObject(bundle.root)) throw new InletError('INVALID_SCHEMA', `${bundle.uri}: the schema must be an object`);
  // A root that only refers into a resource (`file#/$defs/x`) is not that resource: it gets a URI of its own.
  const sameUri = (bundle.resources ?? []).find((r) => absoluteUri(r.uri) === absoluteUri(bundle.uri));
  const root = withId(bundle.root, sameUri && sameUri.schema !== bundle.root ? distinctUri(bundle.uri) : absoluteUri(bundle.uri));
  // The root is the document at its URI: a resource of the same URI is the same document.
  const resources = (bundle.resources ?? []).map((r) => withId(r.schema, absoluteUri(r.uri))).filter((r) => r.uri !== root.uri);
  const draft = draftOf(root, resources);

  const ajv = draft === '2019-09' ? new Ajv2019(AJV_OPTIONS) : new Ajv2020(AJV_OPTIONS);
  formats.default(ajv);
  ajv.addKeyword({ keyword: 'reduce', metaSchema: REDUCE_META_SCHEMA });
  // ajv resolves anchors, yet its strict mode calls `$anchor` unknown in a subschema reached
  // through a $ref into another resource (a register `file#/$defs/x` of a file with anchors).
  ajv.addKeyword({ keyword: '$anchor', schemaType: 'string' });
  for (const r of resources) ajv.addSchema(r.schema as object);
  const validator = ajv.compile(root.schema as object);
  const checkReduce = ajv.compile(REDUCE_META_SCHEMA);
  const checkAnnotation = (v: unknown) => (checkReduce(v) ? null : ajv.errorsText(checkReduce.errors, { dataVar: 'reduce' }));

  const { roots, nodes } = indexSchemas([root, ...resources], draft, checkAnnotation);
  // Every branch whose validity picks annotations is compiled here, once.
  const branches = new Map<SchemaNode, (v: unknown) => boolean>();
  for (const node of nodes) {
    for (const b of [...node.anyOf, ...node.oneOf, ...(node.if ? [node.if] : [])]) {
      if (branches.has(b)) continue;
      const validate = typeof b.schema === 'boolean' ? () => b.schema as boolean : ajv.getSchema(b.uri);
      if (!validate) throw new InletError('INVALID_SCHEMA', `${b.uri}: cannot compile this branch`);
      branches.set(b, (v) => validate(v) === true);
    }
  }
  const space = new LocationSpace((node, v) => branches.get(node)!(v));
  return { validator, root: space.at([roots[0]!]) };
}

// A base URI without its fragment, which a base never needs.
function absoluteUri(uri: string): string {
  try {
    const url = new URL(uri);
    url.hash = '';
    return url.href;
  } catch {
    throw new InletError('INVALID_SCHEMA', `schema URI ${JSON.stringify(uri)} is not an absolute URI`);
  }
}

function distinctUri(uri: string): string {
  const url = new URL(absoluteUri(uri));
  url.searchParams.append('inlet-root', '');
  return url.href;
}

// Gives a schema document its absolute URI as `$id`, which is how ajv finds it.
function withId(schema: unknown, uri: string): SchemaDocument {
  if (!isObject(schema)) return { uri, schema };
  const id = typeof schema.$id === 'string' ? new URL(schema.$id, uri).href : uri;
  return { uri: id, schema: { ...schema, $id: id } };
}

// The root's `$schema`; for a root that only refers elsewhere, the referenced document's.
function draftOf(root: SchemaDocument, resources: SchemaDocument[]): Draft {
  const s = root.schema as Record<string, unknown>;
  let declared = s.$schema;
  if (declared === undefined && typeof s.$ref === 'string') {
    const target = new URL(s.$ref, root.uri);
    target.hash = '';
    declared = (resources.find((r) => r.uri === target.href)?.schema as Record<string, unknown> | undefined)?.$schema;
  }
  if (declared === undefined) return '2020-12';
  const draft = typeof declared === 'string' ? DRAFTS[declared.replace(/^https?:\/\//, '').replace(/#$/, '')] : undefined;
  if (!draft) throw new InletError('INVALID_SCHEMA', `${root.uri}: $schema ${JSON.stringify(declared)} is not supported (use draft 2020-12 or 2019-09)`);
  return draft;
}

// ajv stops at the first failure; its last error is the keyword that failed (an anyOf
// over its branches' errors), except for if/then, where the branch's error says more.
function describeErrors(errors: ErrorObject[]): string {
  const e = errors.at(-1)?.keyword === 'if' ? errors[0] : errors.at(-1);
  if (!e) return '(root): is invalid';
  const at = (extra?: string) => e.instancePath + (extra === undefined ? '' : formatPointer([extra])) || '(root)';
  switch (e.keyword) {
    case 'required':
      return `${at((e.params as { missingProperty: string }).missingProperty)}: is required`;
    case 'additionalProperties':
      return `${at((e.params as { additionalProperty: string }).additionalProperty)}: is not allowed`;
    case 'enum':
      return `${at()}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${at()}: ${e.message ?? 'is invalid'}`;
  }
}
