import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv } from 'ajv';
import { InletError } from '../errors.js';
import { checkStoreUrl, sameStoreUrl } from '../protocol/store-url.js';
import { describeAjvError } from '../schema.js';
import { parseDuration, parseSize } from '../units.js';
import { YamlText } from '../yaml.js';
import { parseAuthKeys, type AuthKeys } from './access/tokens.js';

export const DURATION = { type: 'string', pattern: '^(\\d+(\\.\\d+)?(ms|s|m|h|d))+$', description: 'a duration like 90s, 15m, 1h' };
export const SIZE = { type: 'string', pattern: '^\\d+(\\.\\d+)?\\s*([kKmMgG]i?[bB]?|[bB])?$', description: 'a size like 64MiB' };

/**
 * The one source of the broker's settings and their defaults: flags, INLET_* env vars and YAML alike.
 * `title` is the setting's help line (`inlet serve --help` is generated from it); `description`
 * says what a valid value looks like, in errors.
 */
export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080, title: 'TCP port; 0 picks a free one' },
    host: { type: 'string', minLength: 1, default: '127.0.0.1', title: 'address to listen on' },
    dataDir: { type: 'string', minLength: 1, default: './data', description: 'local spools and journal specs' },
    store: { type: 'string', pattern: '^(file|s3)://', description: 'a file:// or s3:// URL; default file://<data-dir>/lake/' },
    stores: {
      type: 'string',
      pattern: '^((file|s3)://[^,]*)(,(file|s3)://[^,]*)*$',
      title: 'more stores journal specs may name, comma-separated (a spec may name only --store and these)',
    },
    fragmentLength: { ...SIZE, default: '128MiB', title: 'fragment length of new journals' },
    flushInterval: { ...DURATION, default: '1h', title: 'flush interval of new journals: spools reach the store at least this often' },
    compression: { enum: ['gzip', 'zstd', 'none'], default: 'gzip', title: 'codec of new fragments' },
    refreshInterval: { ...DURATION, default: '5m', title: 'how often the fragment index re-lists the store' },
    retention: { ...DURATION, default: '0s', title: 'age after which fragments of new journals are pruned; 0s keeps them forever' },
    maxAppendSize: { ...SIZE, default: '64MiB', title: 'largest append accepted; larger gets 413' },
    maxReadSize: { ...SIZE, default: '4MiB', title: 'bytes per catch-up response' },
    longPollTimeout: { ...DURATION, default: '20s', title: 'how long live reads wait before answering 204' },
    diskBudget: { ...SIZE, default: '8GiB', title: 'bytes of spools waiting for the store before appends get 503' },
    shutdownGrace: { ...DURATION, default: '15s', title: 'how long a stopping broker waits for uploads' },
    requestTimeout: { ...DURATION, default: '60s', title: 'how long a client may take to send a whole request, headers and body (408 past it)' },
    maxConnections: { type: 'integer', minimum: 1, default: 4096, title: 'open client connections; more are refused' },
    appendBudget: { ...SIZE, default: '512MiB', title: 'request bytes received and not yet answered, all requests together; past it new ones get 503 with Retry-After' },
    maxOpenSpools: { type: 'integer', minimum: 1, default: 256, title: 'spools whose files stay open; idle ones past it close and reopen on use' },
    maxIngestSize: { ...SIZE, default: '8MiB', title: 'largest POST /ingest body (413 past it)' },
    maxJsonDepth: { type: 'integer', minimum: 1, default: 64, title: 'deepest nesting of objects and arrays in a POST /ingest body (400 past it)' },
    catalog: { type: 'string', minLength: 1, description: 'a *.flow.yaml catalog whose collections POST /ingest serves' },
    authKeys: {
      type: 'string',
      minLength: 1,
      title: 'base64 HMAC keys separated by whitespace or commas: bearer tokens are required; the first key signs, all verify',
    },
    corsOrigins: {
      type: 'string',
      default: '',
      title: "comma-separated origins (https://app.example) whose pages may write; '*' allows any. Default: none",
    },
    allowedHosts: {
      type: 'string',
      default: '',
      title: 'comma-separated names the broker answers to besides its listen host, localhost and loopback addresses',
    },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', title: 'log verbosity; debug also prints stack traces of start-up failures' },
  },
} as const;

export interface BrokerConfig {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** The default store: new journals' fragments, and the mirror of journal records. */
  readonly store: string;
  /** Every store a journal spec may name: `store` first, then `--stores`. */
  readonly stores: readonly string[];
  readonly fragmentLength: number;
  readonly flushInterval: string;
  readonly compression: 'gzip' | 'zstd' | 'none';
  readonly refreshInterval: string;
  readonly retention: string;
  readonly maxAppendSize: number;
  readonly maxReadSize: number;
  readonly longPollTimeoutMs: number;
  readonly diskBudget: number;
  readonly shutdownGraceMs: number;
  readonly logLevel: string;
  readonly requestTimeoutMs: number;
  readonly maxConnections: number;
  readonly appendBudget: number;
  readonly maxOpenSpools: number;
  readonly maxIngestSize: number;
  readonly maxJsonDepth: number;
  /** HMAC keys (first signs, all verify); when set, every request but /healthz needs a bearer token. */
  readonly authKeys?: AuthKeys;
  /** Origins whose pages may send mutating requests; `*` allows any. */
  readonly corsOrigins: readonly string[];
  /** Host names accepted besides the listen host, localhost and loopback addresses (DNS rebinding guard). */
  readonly allowedHosts: readonly string[];
  /** A catalog file (absolute path): inlet serve registers the collections plugin for it. */
  readonly catalog?: string;
}

type Raw = Record<string, unknown>;
const KEYS = Object.keys(configSchema.properties) as (keyof typeof configSchema.properties)[];
// Strings from flags and env coerce to the schema's types; YAML keeps its own.
const validate = new Ajv({ useDefaults: true, coerceTypes: true, strict: true, verbose: true }).compile(configSchema);

/** `fragmentLength` ⇄ `--fragment-length` ⇄ `INLET_FRAGMENT_LENGTH`. */
export const flagName = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
export const envName = (key: string): string => `INLET_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

/**
 * Merges defaults < YAML config file < INLET_* env < flags, validates once, and freezes.
 * Errors name the field as the user wrote it (`--port`, `INLET_PORT`, `inlet.yaml:3 port`).
 */
export function loadConfig(flags: Raw, env: NodeJS.ProcessEnv = process.env): BrokerConfig {
  const origin = new Map<string, string>();
  const merged: Raw = {};
  const configPath = (flags.config as string | undefined) ?? env.INLET_CONFIG;
  if (configPath) {
    const { settings, yaml } = readYamlConfig(configPath);
    for (const [k, v] of Object.entries(settings)) {
      merged[k] = v;
      origin.set(k, `${yaml.where(configPath, [k])} ${k}`);
    }
  }
  for (const k of KEYS) {
    const v = env[envName(k)];
    if (v !== undefined && v !== '') {
      merged[k] = v;
      origin.set(k, envName(k));
    }
  }
  for (const [k, v] of Object.entries(flags)) {
    if (k === 'config' || v === undefined) continue;
    merged[k] = v;
    origin.set(k, flagName(k));
  }
  if (!validate(merged)) {
    const e = validate.errors![0]!;
    const key = e.instancePath.split('/')[1] ?? (e.params as { additionalProperty?: string }).additionalProperty ?? '';
    const message = describeAjvError(validate.errors).replace(/^[^:]*: /, '');
    throw new InletError('INVALID_SPEC', `${origin.get(key) ?? key}: ${message}`);
  }
  const dataDir = resolve(merged.dataDir as string);
  const store = (merged.store as string) || pathToFileURL(resolve(dataDir, 'lake')).href + '/';
  checkStoreUrl(store, origin.get('store') ?? 'store');
  const extra = merged.stores ? (merged.stores as string).split(',') : [];
  for (const url of extra) checkStoreUrl(url, origin.get('stores')!);
  return Object.freeze({
    port: merged.port as number,
    host: merged.host as string,
    dataDir,
    store,
    stores: Object.freeze([store, ...extra.filter((url) => !sameStoreUrl(url, store))]),
    fragmentLength: parseSize(merged.fragmentLength as string)!,
    flushInterval: merged.flushInterval as string,
    compression: merged.compression as BrokerConfig['compression'],
    refreshInterval: merged.refreshInterval as string,
    retention: merged.retention as string,
    maxAppendSize: parseSize(merged.maxAppendSize as string)!,
    maxReadSize: parseSize(merged.maxReadSize as string)!,
    longPollTimeoutMs: parseDuration(merged.longPollTimeout as string)!,
    diskBudget: parseSize(merged.diskBudget as string)!,
    shutdownGraceMs: parseDuration(merged.shutdownGrace as string)!,
    logLevel: merged.logLevel as string,
    requestTimeoutMs: parseDuration(merged.requestTimeout as string)!,
    maxConnections: merged.maxConnections as number,
    appendBudget: parseSize(merged.appendBudget as string)!,
    maxOpenSpools: merged.maxOpenSpools as number,
    maxIngestSize: parseSize(merged.maxIngestSize as string)!,
    maxJsonDepth: merged.maxJsonDepth as number,
    ...(merged.authKeys ? { authKeys: parseAuthKeys(merged.authKeys as string, origin.get('authKeys')) } : {}),
    corsOrigins: Object.freeze(list(merged.corsOrigins as string).map((o) => checkOrigin(o, origin.get('corsOrigins') ?? 'corsOrigins'))),
    allowedHosts: Object.freeze(list(merged.allowedHosts as string).map((h) => h.toLowerCase())),
    ...(merged.catalog ? { catalog: resolve(merged.catalog as string) } : {}),
  });
}

function list(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** An origin is `scheme://host[:port]` exactly as browsers send it, or `*`. */
function checkOrigin(o: string, where: string): string {
  if (o === '*') return o;
  let url: URL | undefined;
  try {
    url = new URL(o);
  } catch {
    url = undefined;
  }
  if (!url || url.origin !== o) {
    throw new InletError('INVALID_SPEC', `${where}: ${JSON.stringify(o)} is not an origin like https://app.example.com (no path or trailing slash)`);
  }
  return o;
}

function readYamlConfig(path: string): { settings: Raw; yaml: YamlText } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InletError('INVALID_SPEC', `--config: cannot read ${path}: ${(err as Error).message}`);
  }
  const yaml = YamlText.parse(text, (line, why) => new InletError('INVALID_SPEC', `${path}${line === undefined ? '' : `:${line}`}: not valid YAML: ${why}`));
  const doc = yaml.value;
  if (doc === null || doc === undefined) return { settings: {}, yaml };
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new InletError('INVALID_SPEC', `${path}: must be a mapping of settings`);
  return { settings: doc as Raw, yaml };
}
