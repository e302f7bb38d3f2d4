import { InletError } from '../errors.js';
import { ajv, describeAjvError } from '../schema.js';
import { parseDuration, parseSize } from '../units.js';
import { validateJournalName } from '../protocol/names.js';
import { specInputSchema, type JournalSpec, type JournalSpecInput } from '../protocol/journal-spec.js';

export type { Codec, FragmentSpec, JournalSpec, JournalSpecInput } from '../protocol/journal-spec.js';

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
