import { dirname, resolve } from 'node:path';
import { ajv } from '../schema.js';
import type { Path } from '../yaml.js';
import type { SourceFile } from './source.js';
import type { EndpointSpec } from './types.js';

const endpointDefSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  properties: {
    postgres: {
      type: 'object',
      additionalProperties: false,
      required: ['host', 'user'],
      properties: {
        host: { type: 'string', minLength: 1 },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        user: { type: 'string', minLength: 1 },
        password: { type: 'string' },
        dbname: { type: 'string', minLength: 1 },
      },
    },
    sqlite: {
      type: 'object',
      additionalProperties: false,
      required: ['path'],
      properties: { path: { type: 'string', minLength: 1 } },
    },
  },
  description: 'one of postgres: { host, port, user, password, dbname } or sqlite: { path }',
} as const;

type EndpointDef = { postgres: { host: string; port?: number; user: string; password?: string; dbname?: string } } | { sqlite: { path: string } };

const validateEndpoint = ajv.compile<EndpointDef>(endpointDefSchema);

/**
 * Checks the endpoint `name` declared as `def` in `file`. `${NAME}` in a string value is
 * replaced by the environment variable NAME (so passwords stay out of catalogs; a port may be
 * `${PGPORT}`); a variable that is not set is an error naming it. A SQLite path is relative to
 * the catalog file. Throws INVALID_CATALOG `file:line endpoints."name".field: problem`.
 */
export function checkEndpoint(name: string, def: unknown, file: SourceFile, env: NodeJS.ProcessEnv = process.env): EndpointSpec {
  const at: Path = ['endpoints', name];
  const substituted = substitute(def, at, file, env);
  if (!validateEndpoint(substituted)) throw file.invalid(at, substituted, validateEndpoint);
  const source = file.where(at);
  if ('sqlite' in substituted) return { name, sqlite: { path: resolve(dirname(file.path), substituted.sqlite.path) }, source };
  const pg = substituted.postgres;
  return {
    name,
    postgres: { host: pg.host, port: pg.port ?? 5432, user: pg.user, ...(pg.password !== undefined ? { password: pg.password } : {}), dbname: pg.dbname ?? pg.user },
    source,
  };
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** `value` with `${NAME}` replaced in its strings; a whole-string `${PORT}` that is a number becomes one. */
function substitute(value: unknown, path: Path, file: SourceFile, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') {
    const out = value.replace(VARIABLE, (_, variable: string) => {
      const got = env[variable];
      if (got === undefined) throw file.error(path, `environment variable ${variable} is not set (named by ${JSON.stringify(value)})`);
      return got;
    });
    return out !== value && /^[0-9]+$/.test(out) && /^\$\{[^}]+\}$/.test(value) ? Number(out) : out;
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, [...path, i], file, env));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, [...path, k], file, env)]));
  }
  return value;
}
