import type { SchemaBundle } from '../doc/schema-index.js';
import type { Projection } from '../protocol/collections.js';
import type { JournalSpecInput } from '../protocol/journal-spec.js';

export type { Projection } from '../protocol/collections.js';

export type { SchemaBundle } from '../doc/schema-index.js';

/** One collection of a catalog, checked: its key and partitions are provably present in valid documents. */
export interface CollectionSpec {
  /** Like `acme/shipments`: `/`-separated segments of `A-Z a-z 0-9 . _ -`, usable as a journal name prefix. */
  name: string;
  /** JSON pointers that together identify a document; each is required by the schema. */
  key: string[];
  schema: SchemaBundle;
  projections: Record<string, Projection>;
  /** Fields of the projections with `partition: true`, sorted. */
  partitionFields: string[];
  /** Fragment settings for the collection's journals (catalog field `journals.fragments`). */
  journals: { fragment?: JournalSpecInput['fragment'] };
  /** `file:line` where the collection was declared (file relative to the working directory). */
  source: string;
}

/** A loaded catalog: its collections by name, and every file it was read from. */
export interface Catalog {
  collections: Map<string, CollectionSpec>;
  /** Absolute paths: catalog files in the order they were loaded, then schema files. */
  files: string[];
}
