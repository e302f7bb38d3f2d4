import type { Projection } from '../protocol/collections.js';
import type { JournalSpecInput } from '../protocol/journal-spec.js';

export type { Projection } from '../protocol/collections.js';

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
