import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadCatalog } from '../../src/catalog/load.js';
import { CollectionSchema } from '../../src/doc/schema.js';
import { CLI, ROOT } from './broker.js';
import { committedDocs, ingest } from './collections.js';
import type { TestPostgres } from './postgres.js';

export const USERS_COLLECTION = join(ROOT, 'test/fixtures/materialize/users-collection.flow.yaml');
export const USERS_CATALOG = join(ROOT, 'test/fixtures/materialize/users.flow.yaml');

export interface User {
  id: string;
  visits: number;
  lastPage?: string;
  score?: number;
  vip?: boolean;
  seen?: string;
  tags?: Record<string, number>;
  _meta?: unknown;
}

/** The environment the users catalog reads its endpoints from. */
export function usersEnv(pg: TestPostgres, sqlitePath: string): NodeJS.ProcessEnv {
  return { PGPORT: String(pg.config.port), PGPASSWORD: pg.config.password!, SQLITE_PATH: sqlitePath };
}

/** Ingests `count` visits from document `first` on, over `keys` users, in requests of `per`. */
export async function ingestVisits(b: { url: string }, first: number, count: number, keys = 20, per = 50): Promise<void> {
  for (let at = first; at < first + count; at += per) {
    const docs = Array.from({ length: Math.min(per, first + count - at) }, (_, i) => {
      const n = at + i;
      return { id: `u${n % keys}`, visits: 1 + (n % 3), lastPage: `/p${n}`, score: (n % 7) + 0.5, vip: n % 2 === 0, seen: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(), tags: { [`t${n % 3}`]: 1 } };
    });
    const res = await ingest(b, { 'acme/users': docs });
    if (res.status !== 200) throw new Error(`ingest: ${res.status} ${await res.text()}`);
  }
}

/** The collection's committed documents reduced by key, as the table must hold them (without `_meta`), by id. */
export async function expectedUsers(b: { url: string }): Promise<Map<string, User>> {
  const spec = (await loadCatalog(USERS_COLLECTION)).collections.get('acme/users')!;
  const schema = CollectionSchema.compile(spec.schema);
  const out = new Map<string, User>();
  for (const doc of await committedDocs<User>(b, 'acme/users')) {
    const prior = out.get(doc.id);
    out.set(doc.id, schema.reduce(prior, doc, { full: prior !== undefined }) as User);
  }
  for (const u of out.values()) delete u._meta;
  return out;
}

/** Rows of the PostgreSQL table `users` by id, `flow_document` without `_meta`. */
export async function pgUsers(pg: TestPostgres, table = 'users'): Promise<Map<string, { visits: number; lastpage: string | null; doc: User }>> {
  const rows = await pg.query<{ id: string; visits: string; lastpage: string | null; flow_document: User }>(`SELECT id, visits, lastpage, flow_document FROM ${table}`);
  return new Map(rows.map((r) => [r.id, { visits: Number(r.visits), lastpage: r.lastpage, doc: strip(r.flow_document) }]));
}

/** Rows of the SQLite table `users` by id. */
export function sqliteUsers(path: string): Map<string, { visits: number; doc: User }> {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare('SELECT id, visits, flow_document FROM users').all() as { id: string; visits: number; flow_document: string }[];
    return new Map(rows.map((r) => [r.id, { visits: r.visits, doc: strip(JSON.parse(r.flow_document) as User) }]));
  } finally {
    db.close();
  }
}

function strip(u: User): User {
  delete u._meta;
  return u;
}

/**
 * Runs `inlet runtime --settle` over the users catalog to its end (or its
 * crash): resolves with its exit code or signal, and its stderr.
 */
export function runMaterializer(url: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ exit: number | string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, 'runtime', '--catalog', USERS_CATALOG, '--broker', url, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('exit', (code, sig) => resolve({ exit: code ?? sig ?? -1, stderr }));
  });
}

/** A materialization's status as `GET /v1/materializations` answers it. */
export interface ServedStatus {
  name: string;
  state: string;
  lagBytes: number;
  rowsWritten: number;
  lastError?: string;
}

export async function servedStatus(url: string): Promise<ServedStatus[]> {
  const res = await fetch(`${url}/v1/materializations`);
  if (!res.ok) throw new Error(`GET /v1/materializations: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { materializations: ServedStatus[] }).materializations;
}

/** Polls the serving process's status until `done` holds of it (the condition, not a duration, ends the wait). */
export async function waitForStatus(url: string, done: (s: ServedStatus[]) => boolean): Promise<ServedStatus[]> {
  for (;;) {
    const s = await servedStatus(url);
    if (done(s)) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every materialization runs and has read all its source holds. */
export const caughtUp = (s: ServedStatus[]): boolean => s.length > 0 && s.every((m) => m.state === 'running' && m.lagBytes === 0);
