import { InletError } from '../errors.js';
import { checkPostfixTemplate, DEFAULT_POSTFIX_TEMPLATE, templateKeys } from '../protocol/postfix.js';
import { checkStoreUrl, sameStoreUrl } from '../protocol/store-url.js';
import { ajv, describeAjvError } from '../schema.js';
import { parseDuration, parseSize } from '../units.js';
import { validateJournalName } from '../protocol/names.js';
import { specInputSchema, type JournalSpec, type JournalSpecInput } from '../protocol/journal-spec.js';

export type { Codec, FragmentSpec, JournalSpec, JournalSpecInput } from '../protocol/journal-spec.js';

/**
 * What a spec is resolved against: the broker's defaults, and the stores its operator configured.
 * A spec may name only `allowedStores` (by default, only the default spec's own stores).
 */
export type SpecDefaults = Omit<JournalSpec, 'name'> & { readonly allowedStores?: readonly string[] };

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
 * Throws INVALID_SPEC, STORE_NOT_ALLOWED (a store the operator did not configure) or
 * INVALID_JOURNAL_NAME (including a segment that reads as a postfix, `utc_date=…`), naming the
 * field (prefixed with `where`).
 */
export function resolveSpec(input: unknown, defaults: SpecDefaults, where = ''): JournalSpec {
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
  const at = (field: string) => `${where ? `${where}.` : ''}${field}`;
  checkPostfixTemplate(f.pathPostfixTemplate, at('fragment.pathPostfixTemplate'));
  const keys = new Set([...templateKeys(DEFAULT_POSTFIX_TEMPLATE), ...templateKeys(f.pathPostfixTemplate)]);
  const clash = copy.name.split('/').find((segment) => keys.has(segment.split('=')[0]!) && segment.includes('='));
  if (clash !== undefined) {
    throw new InletError('INVALID_JOURNAL_NAME', `${at('name')}: segment ${JSON.stringify(clash)} reads as a fragment path postfix (${[...keys].join(', ')}); choose another name`);
  }
  const allowed = defaults.allowedStores ?? defaults.fragment.stores;
  f.stores.forEach((url, i) => {
    checkStoreUrl(url, at(`fragment.stores[${i}]`));
    if (!allowed.some((a) => sameStoreUrl(a, url))) {
      throw new InletError('STORE_NOT_ALLOWED', `${at(`fragment.stores[${i}]`)}: ${url} is not one of the broker's stores (--store, --stores): ${allowed.join(', ')}`);
    }
  });
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
