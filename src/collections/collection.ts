import type { Catalog, CollectionSpec } from '../catalog/types.js';
import { InletError } from '../errors.js';
import { CollectionSchema } from '../doc/schema.js';

/** A collection ready for use: its spec, with its schema compiled once. */
export interface Collection {
  readonly spec: CollectionSpec;
  readonly schema: CollectionSchema;
}

/** Compiles every collection's schema; a bad schema fails naming its collection. */
export function compileCatalog(catalog: Catalog): Map<string, Collection> {
  const out = new Map<string, Collection>();
  for (const [name, spec] of catalog.collections) {
    try {
      out.set(name, { spec, schema: CollectionSchema.compile(spec.schema) });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new InletError('INVALID_SCHEMA', `collection ${name} (${spec.source}): ${why}`, { cause: err });
    }
  }
  return out;
}
