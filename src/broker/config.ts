import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv } from 'ajv';
import { InletError } from '../errors.js';
import { describeAjvError } from '../schema.js';
import { parseDuration, parseSize } from '../units.js';
import { YamlText } from '../yaml.js';
import { parseAuthKeys, type AuthKeys } from './access/tokens.js';

const DURATION = { type: 'string', pattern: '^(\\d+(\\.\\d+)?(ms|s|m|h|d))+$', description: 'a duration like 90s, 15m, 1h' };
const SIZE = { type: 'string', pattern: '^\\d+(\\.\\d+)?\\s*([kKmMgG]i?[bB]?|[bB])?$', description: 'a size like 64MiB' };

/** The one source of the broker's settings and their defaults: flags, INLET_* env vars and YAML alike. */
export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    host: { type: 'string', minLength: 1, default: '127.0.0.1' },
    dataDir: { type: 'string', minLength: 1, default: './data', description: 'local spools and journal specs' },
    store: { type: 'string', pattern: '^(file|s3)://', description: 'a file:// or s3:// URL; default file://<data-dir>/lake/' },
    fragmentLength: { ...SIZE, default: '128MiB' },
    flushInterval: { ...DURATION, default: '1h' },
    compression: { enum: ['gzip', 'zstd', 'none'], default: 'gzip' },
    refreshInterval: { ...DURATION, default: '5m' },
    retention: { ...DURATION, default: '0s', description: '0s keeps fragments forever' },
    maxAppendSize: { ...SIZE, default: '64MiB' },
    maxReadSize: { ...SIZE, default: '4MiB', description: 'bytes per catch-up response' },
    longPollTimeout: { ...DURATION, default: '20s' },
    diskBudget: { ...SIZE, default: '8GiB', description: 'bytes of spools waiting for the store before appends get 503' },
    shutdownGrace: { ...DURATION, default: '15s', description: 'how long a stopping broker waits for uploads' },
    catalog: { type: 'string', minLength: 1, description: 'a *.flow.yaml catalog whose collections POST /ingest serves' },
    authKeys: {
      type: 'string',
      minLength: 1,
      description: 'base64 HMAC keys separated by whitespace or commas: bearer tokens are required; the first key signs, all verify',
    },
    corsOrigins: {
      type: 'string',
      default: '',
      description: "comma-separated origins (https://app.example) whose pages may write; '*' allows any. Default: none",
    },
    allowedHosts: {
      type: 'string',
      default: '',
      description: 'comma-separated names the broker answers to besides its listen host, localhost and loopback addresses',
    },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
  },
} as const;

export interface BrokerConfig {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly store: string;
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
  /** HMAC keys (first signs, all verify); when set, every request but /healthz needs a bearer token. */
  readonly authKeys?: AuthKeys;
  /** Origins whose pages may send mutating requests; `*` allows any. */
  readonly corsOrigins: readonly string[];
  /** Host names accepted besides the listen host, localhost and loopback addresses (DNS rebinding guard). */
  readonly allowedHosts: readonly string[];
  /** A catalog file (absolute path) whose collections the broker ingests into. */
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
 * Errors name the field as the user wrote it (`--port`, `INLET_PORT`, `inlet.yaml: port`).
 */
export function loadConfig(flags: Raw, env: NodeJS.ProcessEnv = process.env): BrokerConfig {
  const origin = new Map<string, string>();
  const merged: Raw = {};
  const configPath = (flags.config as string | undefined) ?? env.INLET_CONFIG;
  if (configPath) {
    const file = readYamlConfig(configPath);
    for (const [k, v] of Object.entries(file)) {
      merged[k] = v;
      origin.set(k, `${configPath}: ${k}`);
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
  return Object.freeze({
    port: merged.port as number,
    host: merged.host as string,
    dataDir,
    store: (merged.store as string) || pathToFileURL(resolve(dataDir, 'lake')).href + '/',
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

function readYamlConfig(path: string): Raw {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InletError('INVALID_SPEC', `--config: cannot read ${path}: ${(err as Error).message}`);
  }
  const doc = YamlText.parse(text, (line, why) => new InletError('INVALID_SPEC', `${path}${line === undefined ? '' : `:${line}`}: not valid YAML: ${why}`)).value;
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new InletError('INVALID_SPEC', `${path}: must be a mapping of settings`);
  return doc as Raw;
}
