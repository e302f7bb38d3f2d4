import { Type, type Static } from '@sinclair/typebox';

/** JSON types a location may take; `number` means a number that is not an integer. */
export const JsonType = Type.Union([
  Type.Literal('null'),
  Type.Literal('boolean'),
  Type.Literal('object'),
  Type.Literal('array'),
  Type.Literal('integer'),
  Type.Literal('number'),
  Type.Literal('string'),
]);
export type JsonType = Static<typeof JsonType>;

/**
 * What a collection's schema proves about a projected location in every valid document:
 * the types its value may take (`null` among them when it is nullable; absent when the
 * schema does not constrain them), a string `format`, and whether it is always present.
 */
export const ProjectionType = Type.Object({
  types: Type.Optional(Type.Array(JsonType)),
  format: Type.Optional(Type.String()),
  required: Type.Boolean(),
});
export type ProjectionType = Static<typeof ProjectionType>;

/** A named view of one document location, as a field (a column, a partition). */
export const Projection = Type.Object({
  /** JSON pointer into the document, like `/vendor/name`. */
  location: Type.String(),
  /** Documents are routed to journals by this field's value (`<collection>/<field>=<value>/…`). */
  partition: Type.Boolean(),
  /** Its type, inferred from the schema when the catalog loads. */
  inferred: ProjectionType,
});
export type Projection = Static<typeof Projection>;

/** A collection as `GET /v1/collections` lists it, with its partition journals. */
export const CollectionInfo = Type.Object({
  name: Type.String(),
  key: Type.Array(Type.String()),
  partitionFields: Type.Array(Type.String()),
  projections: Type.Record(Type.String(), Projection),
  journals: Type.Array(Type.String()),
});
export type CollectionInfo = Static<typeof CollectionInfo>;

/** `GET /v1/collections`. */
export const CollectionList = Type.Object({ collections: Type.Array(CollectionInfo) });
export type CollectionList = Static<typeof CollectionList>;

/** The answer to `POST /ingest`: one committed transaction. */
export const IngestResult = Type.Object({
  /** End offset of each journal written, after its ACK. */
  journals: Type.Record(Type.String(), Type.Number()),
  /** Documents received, and stored after combining those with equal keys. */
  received: Type.Number(),
  stored: Type.Number(),
  /** True when this was a retry of the producer's last committed request: nothing was written. */
  duplicate: Type.Optional(Type.Boolean()),
  /**
   * Committed, but some ACKs failed to append and are being retried: the documents become
   * visible once they land. `journals` then holds the offsets after the documents.
   */
  acks: Type.Optional(Type.Literal('pending')),
});
export type IngestResult = Static<typeof IngestResult>;
