import type { SchemaBundle } from '../doc/schema-index.js';
import type { JsonType, Projection } from '../protocol/collections.js';
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
  /** Present when the collection is derived from others. */
  derivation?: DerivationSpec;
  /** `file:line` where the collection was declared (file relative to the working directory). */
  source: string;
}

/** Which partitions of a collection are read: `{ include: { field: [values] }, exclude: {…} }`. */
export interface PartitionSelector {
  include?: Record<string, (string | number | boolean)[]>;
  exclude?: Record<string, (string | number | boolean)[]>;
}

/** A source collection as a transform or materialization reads it. */
export interface SourceSpec {
  /** The collection's name. */
  name: string;
  partitions?: PartitionSelector;
}

/** A lambda of a transform: a method of the catalog's TypeScript module, or a remote HTTP endpoint. */
export type LambdaSpec = { typescript: true } | { remote: string };

/** A transform of a derivation: how documents of one source collection change registers and publish. */
export interface TransformSpec {
  /** Its name in the catalog (`fromMessages`); the module's methods are `<name>Update` and `<name>Publish`. */
  name: string;
  reads: SourceSpec;
  /** Shuffle key: JSON pointers into source documents (default: the source collection's key). */
  shuffle: string[];
  update?: LambdaSpec;
  publish?: LambdaSpec;
  /** `file:line` of the transform's declaration. */
  source: string;
}

/** How a collection is derived: a register per shuffle key, and transforms in declaration order. */
export interface DerivationSpec {
  register: { schema: SchemaBundle; initial: unknown };
  transforms: TransformSpec[];
  /**
   * The TypeScript module beside the catalog file that declares the derivation
   * (`userDetails.flow.yaml` → absolute path of `userDetails.flow.ts`), when any lambda is `typescript`.
   */
  module?: string;
}

/** An endpoint a materialization writes to. Values from `${ENV}` are already substituted. */
export type EndpointSpec =
  | { name: string; postgres: PostgresConfig; source: string }
  | { name: string; sqlite: { path: string }; source: string };

export interface PostgresConfig {
  host: string;
  port: number;
  user: string;
  password?: string;
  dbname: string;
}

/** A collection kept as a table of an endpoint. */
export interface MaterializationSpec {
  /** Names it in status, metrics and the fence table: `<endpoint>/<table>`. */
  name: string;
  endpoint: string;
  table: string;
  reads: SourceSpec;
  fields: { include?: string[]; exclude?: string[] };
  deltaUpdates: boolean;
  /** The fields it writes, in column order: key fields, the other selected fields, then `flow_document`. Chosen at load. */
  columns: MaterializedField[];
  source: string;
}

/** A field a materialization writes: one column of its table. */
export interface MaterializedField {
  /** The projection's name, which names the column. */
  field: string;
  /** JSON pointer of its value in a document; `''` for `flow_document`, the whole document. */
  location: string;
  /** Types its value may take, as inferred from the schema (`null` when nullable); undefined when unconstrained. */
  types?: JsonType[];
  format?: string;
  /** Present in every valid document. */
  required: boolean;
  /** Part of the collection's key (so of the table's primary key). */
  key: boolean;
  /** The schema's `description` of it: the column's comment. */
  description?: string;
}

/** A step of a catalog test. */
export type TestStep =
  | { ingest: { collection: string; documents: unknown[] }; source: string }
  | { verify: { collection: string; documents: unknown[]; partitions?: PartitionSelector }; source: string };

export interface TestSpec {
  /** The test's name as the catalog writes it. */
  name: string;
  /** The catalog file that declares it, relative to the working directory. */
  file: string;
  steps: TestStep[];
}

/** A loaded catalog: its collections by name, and every file it was read from. */
export interface Catalog {
  collections: Map<string, CollectionSpec>;
  /** Endpoints by name. */
  endpoints: Map<string, EndpointSpec>;
  materializations: MaterializationSpec[];
  tests: TestSpec[];
  /** `npmDependencies` of every catalog file, merged: package → version range. */
  npmDependencies: Record<string, string>;
  /** Absolute paths: catalog files in the order they were loaded, then schema files. */
  files: string[];
}
