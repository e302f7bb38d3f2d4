import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InletError } from '../errors.js';
import { ajv } from '../schema.js';
import { checkCollection } from './collection.js';
import { SchemaLoader } from './schema-bundle.js';
import { displayPath, fileReference, SourceFile } from './source.js';
import { checkTests, type PendingTests } from './tests.js';
import type { Catalog, CollectionSpec } from './types.js';

/** A catalog file: `import`s of other catalog files, and `collections` by name. */
interface CatalogFile {
  import?: string[];
  collections?: Record<string, unknown>;
  tests?: Record<string, unknown>;
}

const catalogFileSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    import: { type: 'array', items: { type: 'string', minLength: 1 } },
    collections: { type: 'object' },
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
 *
 * Throws INVALID_CATALOG naming the file, line and field of the first problem: unknown fields,
 * unreadable or invalid files (named with the place that referred to them), a collection
 * declared twice, and every check of `checkCollection`.
 */
export async function loadCatalog(path: string): Promise<Catalog> {
  const schemas = new SchemaLoader();
  const collections = new Map<string, CollectionSpec>();
  const files: string[] = [];
  const visited = new Set<string>();
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
  return { collections, endpoints: new Map(), materializations: [], tests: checkTests(tests, collections), npmDependencies: {}, files: [...files, ...schemas.files] };
}
