import { formatPointer, parsePointer } from '../doc/json.js';
import type { JsonType } from '../doc/inference.js';
import { ajv } from '../schema.js';
import type { Path } from '../yaml.js';
import type { SchemaLoader } from './schema-bundle.js';
import type { SourceFile } from './source.js';
import type { CollectionSpec, EndpointSpec, MaterializationSpec, MaterializedField, PartitionSelector } from './types.js';
import { selectorProblem, sourceSchema } from './partitions.js';

/** A materialization as a catalog file writes it (Flow's 2021 syntax). */
interface MaterializationDef {
  endpoint: { name: string; config: { table: string } };
  source: { name: string; partitions?: PartitionSelector };
  fields?: { include?: string[] | Record<string, unknown>; exclude?: string[]; recommended?: boolean };
  deltaUpdates?: boolean;
}

const materializationDefSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['endpoint', 'source'],
  properties: {
    endpoint: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'config'],
      properties: {
        name: { type: 'string', minLength: 1 },
        config: { type: 'object', additionalProperties: false, required: ['table'], properties: { table: { type: 'string', minLength: 1 } } },
      },
    },
    source: sourceSchema,
    fields: {
      type: 'object',
      additionalProperties: false,
      properties: {
        include: { anyOf: [{ type: 'array', items: { type: 'string' } }, { type: 'object' }] },
        exclude: { type: 'array', items: { type: 'string' } },
        recommended: { type: 'boolean' },
      },
    },
    deltaUpdates: { type: 'boolean' },
  },
} as const;

const validateDef = ajv.compile<MaterializationDef>(materializationDefSchema);

const SCALARS: readonly JsonType[] = ['null', 'boolean', 'integer', 'number', 'string'];
/** PostgreSQL's limit (NAMEDATALEN - 1): a longer name would be silently truncated. */
const MAX_NAME_BYTES = 63;

/**
 * Checks materialization `index` of `file` against the catalog's collections and endpoints,
 * and chooses its columns as Flow does: the collection's key fields (a key `/id` is the field
 * `id`, or the declared projection of that location), then every other declared projection and
 * top-level property of a scalar type (or those of `fields.include`, less `fields.exclude`),
 * then `flow_document`. Throws INVALID_CATALOG `file:line materializations[i].field: problem`:
 * an unknown collection, endpoint or field, a key field excluded, two columns whose names fold
 * to the same, or a name over 63 bytes.
 */
export function checkMaterialization(
  index: number,
  def: unknown,
  file: SourceFile,
  collections: ReadonlyMap<string, CollectionSpec>,
  endpoints: ReadonlyMap<string, EndpointSpec>,
  schemas: SchemaLoader,
): MaterializationSpec {
  const at: Path = ['materializations', index];
  if (!validateDef(def)) throw file.invalid(at, def, validateDef);
  const endpoint = endpoints.get(def.endpoint.name);
  if (!endpoint) throw file.error([...at, 'endpoint', 'name'], `no endpoint ${def.endpoint.name} is declared (endpoints: ${[...endpoints.keys()].join(', ') || 'none'})`);
  const collection = collections.get(def.source.name);
  if (!collection) throw file.error([...at, 'source', 'name'], `no collection ${def.source.name} is declared`);
  const bad = selectorProblem(def.source.partitions, collection);
  if (bad) throw file.error([...at, 'source', 'partitions', ...bad.path], bad.problem);
  const table = def.endpoint.config.table;
  if (Buffer.byteLength(table) > MAX_NAME_BYTES) throw file.error([...at, 'endpoint', 'config', 'table'], `table name is longer than ${MAX_NAME_BYTES} bytes`);

  // Every field the collection offers, by name: declared projections, then top-level properties.
  const offered = new Map<string, { location: string; description?: string }>();
  for (const [field, p] of Object.entries(collection.projections)) offered.set(field, { location: p.location });
  const locations = new Set([...offered.values()].map((o) => o.location));
  for (const p of schemas.properties(collection.schema)) {
    const location = formatPointer([p.name]);
    if (offered.has(p.name) || locations.has(location)) continue;
    offered.set(p.name, { location, ...(p.description !== undefined ? { description: p.description } : {}) });
  }
  const fieldOf = (location: string) => [...offered].find(([, o]) => o.location === location)?.[0];
  const describe = (field: string, location: string, key: boolean): MaterializedField => {
    const { required, types, format } = schemas.infer(collection.schema, parsePointer(location));
    const description = offered.get(field)?.description;
    return {
      field,
      location,
      ...(types ? { types: [...types].sort() } : {}),
      ...(format !== undefined ? { format } : {}),
      required,
      key,
      ...(description !== undefined ? { description } : {}),
    };
  };

  const columns: MaterializedField[] = collection.key.map((ptr) => describe(fieldOf(ptr) ?? parsePointer(ptr).join('/'), ptr, true));
  const keyLocations = new Set(collection.key);
  const include = Array.isArray(def.fields?.include) ? def.fields.include : Object.keys(def.fields?.include ?? {});
  const exclude = def.fields?.exclude ?? [];
  for (const [i, field] of include.entries()) {
    if (!offered.has(field)) throw file.error([...at, 'fields', 'include', Array.isArray(def.fields?.include) ? i : field], `${def.source.name} has no field ${field} (fields: ${[...offered.keys()].join(', ')})`);
  }
  for (const [i, field] of exclude.entries()) {
    const where = [...at, 'fields', 'exclude', i];
    if (!offered.has(field)) throw file.error(where, `${def.source.name} has no field ${field}`);
    if (keyLocations.has(offered.get(field)!.location)) throw file.error(where, `${field} is part of the key of ${def.source.name} and cannot be excluded`);
  }
  const recommended = def.fields?.recommended ?? true;
  for (const [field, o] of offered) {
    if (keyLocations.has(o.location) || exclude.includes(field)) continue;
    const f = describe(field, o.location, false);
    const scalar = f.types !== undefined && f.types.length > 0 && f.types.every((t) => SCALARS.includes(t));
    if (include.includes(field) || (recommended && scalar)) columns.push(f);
  }
  columns.push({ field: 'flow_document', location: '', types: ['object'], required: true, key: false });

  const folded = new Map<string, string>();
  for (const c of columns) {
    if (Buffer.byteLength(c.field) > MAX_NAME_BYTES) throw file.error(at, `column ${c.field} of ${def.source.name} is longer than ${MAX_NAME_BYTES} bytes: exclude it in fields.exclude, or project it under a shorter name`);
    const name = columnName(c.field);
    const prior = folded.get(name);
    if (prior !== undefined) throw file.error(at, `fields ${prior} and ${c.field} would both be column ${name}: exclude one of them`);
    folded.set(name, c.field);
  }

  return {
    name: `${endpoint.name}/${table}`,
    endpoint: endpoint.name,
    table,
    reads: { name: def.source.name, ...(def.source.partitions ? { partitions: def.source.partitions } : {}) },
    fields: { ...(include.length ? { include } : {}), ...(exclude.length ? { exclude } : {}) },
    deltaUpdates: def.deltaUpdates ?? false,
    columns,
    source: file.where(at),
  };
}

const PLAIN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The name a database gives the column of `field`: plain identifiers are written unquoted and
 * so fold to lower case (`numUnreadRooms` is the column `numunreadrooms`); others keep their case.
 */
export function columnName(field: string): string {
  return PLAIN.test(field) && !RESERVED.has(field.toLowerCase()) ? field.toLowerCase() : field;
}

/** Words PostgreSQL (and SQLite) reserve: as names they are always quoted. */
export const RESERVED = new Set(
  (
    'all analyse analyze and any array as asc asymmetric authorization between binary both case cast check collate column concurrently ' +
    'constraint create cross current_catalog current_date current_role current_schema current_time current_timestamp current_user default ' +
    'deferrable desc distinct do else end except false fetch for foreign freeze from full grant group having ilike in initially inner intersect ' +
    'into is isnull join lateral leading left like limit localtime localtimestamp natural not notnull null offset on only or order outer overlaps ' +
    'placing primary references returning right select session_user similar some symmetric table tablesample then to trailing true union unique ' +
    'user using variadic verbose when where window with abort action add after attach autoincrement before begin by cascade conflict database ' +
    'deferred delete detach drop each escape exclusive exists explain fail glob if ignore immediate index indexed insert instead key match no ' +
    'nothing of plan pragma query raise recursive regexp reindex release rename replace restrict row rows savepoint set temp temporary ' +
    'transaction trigger update vacuum values view virtual'
  ).split(' '),
);
