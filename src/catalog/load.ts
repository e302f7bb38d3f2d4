import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InletError } from '../errors.js';
import { ajv } from '../schema.js';
import { checkCollection } from './collection.js';
import { checkEndpoint } from './endpoints.js';
import { checkMaterialization } from './materialization.js';
import { checkDerivationSources } from './derivation.js';
import { SchemaLoader } from './schema-bundle.js';
import { displayPath, fileReference, SourceFile } from './source.js';
import type { Catalog, CollectionSpec, EndpointSpec, MaterializationSpec } from './types.js';
import { checkTests, type PendingTests } from './tests.js';

/** A catalog file: `import`s of other catalog files, and `collections` by name. */
interface CatalogFile {
  import?: string[];
  collections?: Record<string, unknown>;
  endpoints?: Record<string, unknown>;
  materializations?: unknown[];
  npmDependencies?: Record<string, string>;
  tests?: Record<string, unknown>;
}

const catalogFileSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    import: { type: 'array', items: { type: 'string', minLength: 1 } },
    collections: { type: 'object' },
    endpoints: { type: 'object' },
    materializations: { type: 'array' },
    npmDependencies: { type: 'object', additionalProperties: { type: 'string', minLength: 1 } },
    tests: { type: 'object' },
  },
} as const;

const validateFile = ajv.compile<CatalogFile>(catalogFileSchema);

/**
 * Loads a Flow-style catalog (`*.flow.yaml`) and every file it imports, transitively (paths
 * relative to the importing file; each file loads once, so repeats and cycles are fine):
 *
 *     import: [other.flow.yaml]
 *     collections:
 *       acme/shipments:
 *         key: [/id]
 *         schema: shipments.schema.yaml       # or file#/$defs/x, or an inline schema
 *         projections:
 *           carrier: { location: /vendor/name, partition: true }
 *           weight: /weight_kg
 *         journals:
 *           fragments: { length: 64MiB, codec: zstd }
 *     endpoints:
 *       acme/db:
 *         postgres: { host: localhost, user: flow, password: "${PGPASSWORD}", dbname: flow }
 *     materializations:
 *       - endpoint: { name: acme/db, config: { table: shipments } }
 *         source: { name: acme/shipments }
 *
 * Throws INVALID_CATALOG naming the file, line and field of the first problem: unknown fields,
 * unreadable or invalid files (named with the place that referred to them), a collection
 * declared twice, and every check of `checkCollection`, `checkEndpoint` and `checkMaterialization`
 * (materializations are checked once every file is read: they may name any file's collections).
 */
export async function loadCatalog(path: string): Promise<Catalog> {
  const schemas = new SchemaLoader();
  const collections = new Map<string, CollectionSpec>();
  const files: string[] = [];
  const visited = new Set<string>();
  const endpoints = new Map<string, EndpointSpec>();
  // Checked once every file is read: they may name collections and endpoints of any file.
  const pending: { file: SourceFile; index: number; def: unknown }[] = [];
  const npmDependencies: Record<string, string> = {};
  const declaredAt: Record<string, string> = {};
  const tests: PendingTests[] = [];

  const visit = async (url: URL, missing: (why: string) => InletError): Promise<void> => {
    if (visited.has(url.href)) return;
    visited.add(url.href);
    const file = await SourceFile.read(url, missing);
    files.push(file.path);
    const doc = file.value ?? {};
    if (!validateFile(doc)) throw file.invalid([], doc, validateFile);
    if (doc.tests) tests.push({ file, tests: doc.tests });
    for (const [name, def] of Object.entries(doc.collections ?? {})) {
      const prior = collections.get(name);
      if (prior) throw file.error(['collections', name], `collection ${name} is already declared at ${prior.source}`);
      collections.set(name, await checkCollection(name, def, file, schemas));
    }
    for (const [name, def] of Object.entries(doc.endpoints ?? {})) {
      const prior = endpoints.get(name);
      if (prior) throw file.error(['endpoints', name], `endpoint ${name} is already declared at ${prior.source}`);
      endpoints.set(name, checkEndpoint(name, def, file));
    }
    for (const [index, def] of (doc.materializations ?? []).entries()) pending.push({ file, index, def });
    for (const [pkg, range] of Object.entries(doc.npmDependencies ?? {})) {
      const prior = npmDependencies[pkg];
      if (prior !== undefined && prior !== range) throw file.error(['npmDependencies', pkg], `${pkg} is already required as ${prior} at ${declaredAt[pkg]}`);
      npmDependencies[pkg] = range;
      declaredAt[pkg] = file.where(['npmDependencies', pkg]);
    }
    for (const [i, ref] of (doc.import ?? []).entries()) {
      const target = fileReference(ref, url);
      if (!target) throw file.error(['import', i], `${JSON.stringify(ref)} is not a local file (only files import)`);
      target.hash = '';
      target.search = '';
      const shown = displayPath(fileURLToPath(target));
      await visit(target, (why) => file.error(['import', i], `cannot read imported file ${shown}: ${why}`));
    }
  };

  const root = resolve(path);
  await visit(pathToFileURL(root), (why) => new InletError('INVALID_CATALOG', `cannot read catalog ${displayPath(root)}: ${why}`));
  const materializations: MaterializationSpec[] = [];
  for (const { file, index, def } of pending) {
    const m = checkMaterialization(index, def, file, collections, endpoints, schemas);
    const prior = materializations.find((p) => p.name === m.name);
    if (prior) throw file.error(['materializations', index], `table ${m.table} of ${m.endpoint} is already materialized at ${prior.source}`);
    materializations.push(m);
  }
  checkDerivationSources(collections, schemas, (source, path, problem) => new InletError('INVALID_CATALOG', `${source} ${path}: ${problem}`));
  return { collections, endpoints, materializations, tests: checkTests(tests, collections), npmDependencies, files: [...files, ...schemas.files] };
}
