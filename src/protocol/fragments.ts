import { Type, type Static } from '@sinclair/typebox';
import { Codec } from './journal-spec.js';

/** A fragment in a store, as the broker lists it. `size` is uncompressed, `compressedSize` stored. */
export const FragmentInfo = Type.Object({
  begin: Type.Number(),
  end: Type.Number(),
  size: Type.Number(),
  compressedSize: Type.Number(),
  codec: Codec,
  /** SHA-1 of the uncompressed content, 40 hex digits. */
  sha1: Type.String(),
  /** Upload time, ISO 8601. */
  modified: Type.String(),
  /** The store URL, and the object's key within it. */
  store: Type.String(),
  key: Type.String(),
  /** Where it is, for people: a path or an s3:// URL. */
  location: Type.String(),
  /** With `signed=true`: a presigned URL to GET it from (valid one hour). */
  url: Type.Optional(Type.String()),
});
export type FragmentInfo = Static<typeof FragmentInfo>;

const Range = Type.Object({ begin: Type.Number(), end: Type.Number() });

/** One journal's fragments, the holes between them, and its local spools. */
export const JournalFragments = Type.Object({
  journal: Type.String(),
  writeHead: Type.Number(),
  fragments: Type.Array(FragmentInfo),
  gaps: Type.Array(Range),
  spools: Type.Array(Type.Object({ begin: Type.Number(), end: Type.Number(), sealed: Type.Boolean() })),
});
export type JournalFragments = Static<typeof JournalFragments>;

/** `GET /v1/fragments?journal=…|selector=…[&signed=true]`. */
export const FragmentList = Type.Object({ journals: Type.Array(JournalFragments) });
export type FragmentList = Static<typeof FragmentList>;

/** `POST /v1/fragments/flush?…`: every journal's bytes below `persistedThrough` are in the store. */
export const FlushResults = Type.Object({ journals: Type.Array(Type.Object({ journal: Type.String(), persistedThrough: Type.Number() })) });
export type FlushResults = Static<typeof FlushResults>;

/** A fragment pruned (or, in a dry run, that would be). */
export const PrunedFragment = Type.Object({
  journal: Type.String(),
  begin: Type.Number(),
  end: Type.Number(),
  location: Type.String(),
  modified: Type.String(),
});
export type PrunedFragment = Static<typeof PrunedFragment>;

/** `POST /v1/fragments/prune?…[&dryRun=false]`. */
export const PruneResults = Type.Object({ dryRun: Type.Boolean(), pruned: Type.Array(PrunedFragment) });
export type PruneResults = Static<typeof PruneResults>;
