/**
 * Journal specs as they cross the wire and sit in YAML. `JournalSpec` is both the type and the
 * schema of a complete spec (as served); `specInputSchema` validates what users write.
 */
import { Type, type Static } from '@sinclair/typebox';

export const Codec = Type.Union([Type.Literal('gzip'), Type.Literal('zstd'), Type.Literal('none')]);
export type Codec = Static<typeof Codec>;

/** How a journal becomes fragments in the lake. */
export const FragmentSpec = Type.Object({
  /** Target size of a fragment in bytes; a spool rolls once it would exceed this. */
  length: Type.Readonly(Type.Number()),
  codec: Type.Readonly(Codec),
  /** Spools roll at least this often, aligned to UTC (e.g. `1h` rolls on the hour). */
  flushInterval: Type.Readonly(Type.String()),
  /** strftime-like tokens %Y %m %d %H %M of the fragment's first append, in UTC. */
  pathPostfixTemplate: Type.Readonly(Type.String()),
  /** Store URLs; the first receives new fragments. */
  stores: Type.Readonly(Type.Array(Type.String())),
  /** How often the broker re-lists the stores. */
  refreshInterval: Type.Readonly(Type.String()),
  /** Fragments wholly older than this may be pruned; `0s` keeps them forever. */
  retention: Type.Readonly(Type.String()),
});
export type FragmentSpec = Static<typeof FragmentSpec>;

/** A journal's complete specification, as stored and served. */
export const JournalSpec = Type.Object({
  name: Type.Readonly(Type.String()),
  labels: Type.Readonly(Type.Record(Type.String(), Type.String())),
  contentType: Type.Readonly(Type.String()),
  /** For NDJSON journals: also check that every line of an append is valid JSON. */
  validateJson: Type.Readonly(Type.Boolean()),
  fragment: Type.Readonly(FragmentSpec),
});
export type JournalSpec = Static<typeof JournalSpec>;

/** A spec as written by users: everything but the name is optional and filled from defaults. */
export interface JournalSpecInput {
  name: string;
  labels?: Record<string, string>;
  contentType?: string;
  validateJson?: boolean;
  fragment?: Partial<Omit<FragmentSpec, 'length'> & { length: number | string }>;
}

const DURATION = { type: 'string', pattern: '^(\\d+(\\.\\d+)?(ms|s|m|h|d))+$', description: 'a duration like 90s, 15m, 1h, 7d' };
const LABEL_KEY = '^[A-Za-z0-9._/-]{1,253}$';

export const fragmentSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    length: {
      anyOf: [
        { type: 'integer', minimum: 1024 },
        { type: 'string', pattern: '^\\d+(\\.\\d+)?\\s*([kKmMgG]i?[bB]?|[bB])?$' },
      ],
      description: 'bytes, or a size like 128MiB (at least 1KiB)',
    },
    codec: { enum: ['gzip', 'zstd', 'none'] },
    flushInterval: DURATION,
    pathPostfixTemplate: { type: 'string', pattern: '^[^/].*[^/]$|^$', description: 'no leading or trailing /' },
    stores: { type: 'array', items: { type: 'string', pattern: '^(file|s3)://' }, minItems: 1 },
    refreshInterval: DURATION,
    retention: DURATION,
  },
} as const;

export const specInputSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string' },
    labels: {
      type: 'object',
      propertyNames: { pattern: LABEL_KEY },
      additionalProperties: { type: 'string', maxLength: 1024 },
    },
    contentType: { type: 'string', minLength: 1, maxLength: 256 },
    validateJson: { type: 'boolean' },
    fragment: fragmentSchema,
  },
} as const;
