import { InletError } from '../errors.js';
import { ajv, describeAjvError } from '../schema.js';
import { parseDuration, parseSize } from '../units.js';
import { validateJournalName } from './name.js';
import type { Labels } from './selector.js';

export type Codec = 'gzip' | 'zstd' | 'none';

/** How a journal becomes fragments in the lake. */
export interface FragmentSpec {
  /** Target size of a fragment in bytes; a spool rolls once it would exceed this. */
  readonly length: number;
  readonly codec: Codec;
  /** Spools roll at least this often, aligned to UTC (e.g. `1h` rolls on the hour). */
  readonly flushInterval: string;
  /** strftime-like tokens %Y %m %d %H %M of the fragment's first append, in UTC. */
  readonly pathPostfixTemplate: string;
  /** Store URLs; the first receives new fragments. */
  readonly stores: readonly string[];
  /** How often the broker re-lists the stores. */
  readonly refreshInterval: string;
  /** Fragments wholly older than this may be pruned; `0s` keeps them forever. */
  readonly retention: string;
}

/** A journal's complete specification, as stored and served. */
export interface JournalSpec {
  readonly name: string;
  readonly labels: Labels;
  readonly contentType: string;
  /** For NDJSON journals: also check that every line of an append is valid JSON. */
  readonly validateJson: boolean;
  readonly fragment: FragmentSpec;
}

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

const validateInput = ajv.compile<JournalSpecInput>(specInputSchema);

export const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines'];

/** The media type without parameters, lowercased. */
export function mediaType(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

/** True when appends must be whole newline-terminated lines (NDJSON, or Durable Streams JSON mode). */
export function isLineOriented(spec: JournalSpec): boolean {
  const t = mediaType(spec.contentType);
  return NDJSON_TYPES.includes(t) || t === 'application/json';
}

/**
 * Validates a user's spec and fills what it leaves out from `defaults`.
 * Throws INVALID_SPEC or INVALID_JOURNAL_NAME naming the field (prefixed with `where`).
 */
export function resolveSpec(input: unknown, defaults: Omit<JournalSpec, 'name'>, where = ''): JournalSpec {
  const copy = structuredClone(input);
  if (!validateInput(copy)) {
    throw new InletError('INVALID_SPEC', describeAjvError(validateInput.errors, where));
  }
  try {
    validateJournalName(copy.name);
  } catch (err) {
    throw new InletError('INVALID_JOURNAL_NAME', `${where ? `${where}.` : ''}name: ${(err as Error).message}`);
  }
  const f = { ...defaults.fragment, ...copy.fragment };
  const length = parseSize(f.length);
  if (length === null || length < 1024) {
    throw new InletError('INVALID_SPEC', `${where ? `${where}.` : ''}fragment.length: must be a size of at least 1KiB`);
  }
  for (const key of ['flushInterval', 'refreshInterval', 'retention'] as const) {
    if (parseDuration(f[key]) === null) {
      throw new InletError('INVALID_SPEC', `${where ? `${where}.` : ''}fragment.${key}: must be a duration like 90s, 15m, 1h`);
    }
  }
  return {
    name: copy.name,
    labels: { ...defaults.labels, ...copy.labels },
    contentType: copy.contentType ?? defaults.contentType,
    validateJson: copy.validateJson ?? defaults.validateJson,
    fragment: { ...f, length, stores: [...f.stores] },
  };
}

/** Deep equality of two complete specs (for idempotent apply). */
export function sameSpec(a: JournalSpec, b: JournalSpec): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  );
}
