import { parsePointer } from '../doc/json.js';
import { checkDerivation } from './derivation.js';
import { validateJournalName } from '../protocol/names.js';
import { fragmentSchema, type JournalSpecInput } from '../protocol/journal-spec.js';
import { ajv } from '../schema.js';
import { parseSize } from '../units.js';
import type { JsonType } from '../doc/inference.js';
import type { SchemaLoader } from './schema-bundle.js';
import type { Path } from '../yaml.js';
import type { SourceFile } from './source.js';
import type { CollectionSpec, Projection } from './types.js';

/** A collection as a catalog file writes it. */
interface CollectionDef {
  key: string[];
  schema: string | Record<string, unknown>;
  projections?: Record<string, string | { location: string; partition?: boolean }>;
  journals?: { fragments?: JournalSpecInput['fragment'] };
  derivation?: unknown;
}

const collectionDefSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['key', 'schema'],
  properties: {
    key: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string' } },
    schema: {
      if: { type: 'string' },
      then: { type: 'string', minLength: 1 },
      else: { type: 'object', description: 'a schema file, file#/pointer, or an inline schema' },
    },
    projections: {
      type: 'object',
      additionalProperties: {
        if: { type: 'string' },
        then: { type: 'string' },
        else: {
          type: 'object',
          additionalProperties: false,
          required: ['location'],
          properties: { location: { type: 'string' }, partition: { type: 'boolean' } },
          description: 'a JSON pointer, or { location, partition }',
        },
      },
    },
    journals: { type: 'object', additionalProperties: false, properties: { fragments: fragmentSchema } },
    derivation: { type: 'object' },
  },
} as const;

const validateDef = ajv.compile<CollectionDef>(collectionDefSchema);

const SEGMENT = /^[A-Za-z0-9._-]+$/;
const FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PARTITION_TYPES: readonly JsonType[] = ['string', 'integer', 'boolean'];

/**
 * Checks the collection `name` declared as `def` in `file` and returns its spec. Throws
 * INVALID_CATALOG naming the file, line and path of the first problem: a bad name, field or
 * pointer, an unknown field, bad fragment settings, a schema that cannot be loaded, or a key or
 * partition location the schema does not provably require (or types wrongly, for partitions).
 */
export async function checkCollection(name: string, def: unknown, file: SourceFile, schemas: SchemaLoader): Promise<CollectionSpec> {
  const at = ['collections', name];
  const nameProblem = collectionNameProblem(name);
  if (nameProblem) throw file.error(at, nameProblem);
  if (!validateDef(def)) throw file.invalid(at, def, validateDef);

  const tokensAt = (ptr: string, where: Path): string[] => {
    if (!ptr.startsWith('/')) throw file.error(where, 'must be a JSON pointer starting with /');
    try {
      return parsePointer(ptr);
    } catch {
      throw file.error(where, 'must be a JSON pointer: write ~ in a name as ~0 and / as ~1');
    }
  };
  const keys = def.key.map((ptr, i) => tokensAt(ptr, [...at, 'key', i]));
  const projections: Record<string, Projection> = {};
  const pointers: Record<string, string[]> = {};
  for (const [field, p] of Object.entries(def.projections ?? {})) {
    const where = [...at, 'projections', field];
    if (!FIELD.test(field)) throw file.error(where, 'a projection field must match [A-Za-z_][A-Za-z0-9_]*');
    const location = typeof p === 'string' ? p : p.location;
    pointers[field] = tokensAt(location, typeof p === 'string' ? where : [...where, 'location']);
    projections[field] = { location, partition: typeof p === 'string' ? false : (p.partition ?? false), inferred: { required: false } };
  }
  const fragment = def.journals?.fragments;
  if (typeof fragment?.length === 'string' && (parseSize(fragment.length) ?? 0) < 1024) {
    throw file.error([...at, 'journals', 'fragments', 'length'], 'must be a size of at least 1KiB');
  }

  const schema = await schemas.bundle(file, [...at, 'schema'], name, def.schema);
  for (const [i, tokens] of keys.entries()) {
    if (!schemas.infer(schema, tokens).required) {
      throw file.error([...at, 'key', i], `key ${def.key[i]} is not required by the schema of ${name} ${REQUIRED_HINT}`);
    }
  }
  for (const [field, projection] of Object.entries(projections)) {
    const { required, types, format } = schemas.infer(schema, pointers[field]!);
    projection.inferred = { ...(types ? { types: [...types].sort() } : {}), ...(format !== undefined ? { format } : {}), required };
  }
  const partitionFields = Object.keys(projections).filter((f) => projections[f]!.partition).sort();
  for (const field of partitionFields) {
    const where = [...at, 'projections', field];
    const what = `partition field ${field} (${projections[field]!.location})`;
    const { required, types } = schemas.infer(schema, pointers[field]!);
    if (!required) throw file.error(where, `${what} is not required by the schema of ${name} ${REQUIRED_HINT}`);
    if (!types) throw file.error(where, `${what} must have type string, integer or boolean, and the schema of ${name} gives it no type`);
    const wrong = [...types].filter((t) => !PARTITION_TYPES.includes(t));
    if (wrong.length) throw file.error(where, `${what} must have type string, integer or boolean, not ${wrong.join(' or ')}`);
  }

  const derivation = def.derivation === undefined ? undefined : await checkDerivation(name, def.derivation, [...at, 'derivation'], file, schemas);
  return {
    ...(derivation ? { derivation } : {}),
    name,
    key: def.key,
    schema,
    projections,
    partitionFields,
    journals: fragment ? { fragment } : {},
    source: file.where(at),
  };
}

const REQUIRED_HINT = '(each property on its path must be listed in required, under type: object)';

/** Why `name` cannot name a collection, or undefined. Names prefix journal names, so they follow those rules too. */
function collectionNameProblem(name: string): string | undefined {
  if (!name.split('/').every((s) => SEGMENT.test(s))) {
    return 'a collection name must be segments of A-Z a-z 0-9 . _ - joined by single slashes, like acme/shipments';
  }
  try {
    validateJournalName(name);
  } catch (err) {
    return `a collection name must be usable in journal names: ${(err as Error).message}`;
  }
  return undefined;
}
