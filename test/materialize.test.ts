import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CLI, cleanup, runCli, startBroker, tempDir, type TestBroker } from './helpers/broker.js';
import { ingest } from './helpers/collections.js';
import { caughtUp, expectedUsers, ingestVisits, waitForStatus, pgUsers, runMaterializer, sqliteUsers, USERS_CATALOG, USERS_COLLECTION, usersEnv } from './helpers/materialize.js';
import { startTestPostgres, type TestPostgres } from './helpers/postgres.js';

let pg: TestPostgres;

test.before(async () => {
  pg = await startTestPostgres();
});
test.after.always(async () => {
  await pg?.destroy();
});

/** A broker serving acme/users, a fresh SQLite file, and empty PostgreSQL tables. */
async function setup(t: ExecutionContext): Promise<{ b: TestBroker; env: NodeJS.ProcessEnv }> {
  await pg.query('DROP TABLE IF EXISTS users, user_visits, inlet_checkpoints');
  const b = await startBroker({ args: ['--catalog', USERS_COLLECTION] });
  t.teardown(() => cleanup(b));
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return { b, env: usersEnv(pg, join(dir, 'views.db')) };
}

/** Every table equals the collection's reduction: full-reduction tables row for row, the delta table in sums. */
async function assertTables(t: ExecutionContext, b: TestBroker, env: NodeJS.ProcessEnv): Promise<void> {
  const expected = await expectedUsers(b);
  const full = await pgUsers(pg);
  t.is(full.size, expected.size, 'one PostgreSQL row per key');
  for (const [id, u] of expected) {
    t.deepEqual(full.get(id)?.doc, u, `PostgreSQL flow_document of ${id}`);
    t.is(full.get(id)?.visits, u.visits, `PostgreSQL visits of ${id}`);
    t.is(full.get(id)?.lastpage, u.lastPage ?? null, `PostgreSQL lastPage of ${id}`);
  }
  const lite = sqliteUsers(env.SQLITE_PATH!);
  t.is(lite.size, expected.size, 'one SQLite row per key');
  for (const [id, u] of expected) t.deepEqual(lite.get(id)?.doc, u, `SQLite flow_document of ${id}`);
  const sums = await pg.query<{ id: string; visits: string }>('SELECT id, sum(visits) AS visits FROM user_visits GROUP BY id');
  t.deepEqual(
    Object.fromEntries(sums.map((r) => [r.id, Number(r.visits)])),
    Object.fromEntries([...expected].map(([id, u]) => [id, u.visits])),
    'delta updates: each transaction combined once, so the rows sum to the totals',
  );
}

test.serial('materializations ddl prints each table: key first, types from the schema, NOT NULL, primary key, comments', async (t) => {
  const r = await runCli(['materializations', 'ddl', '--source', USERS_CATALOG], { env: usersEnv(pg, '/tmp/unused.db') });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /CREATE TABLE IF NOT EXISTS users \(\n  id TEXT NOT NULL,\n  visits BIGINT NOT NULL,\n  lastPage TEXT,\n  score DOUBLE PRECISION,\n  vip BOOLEAN,\n  seen TIMESTAMPTZ,\n  flow_document JSON NOT NULL,\n  PRIMARY KEY \(id\)\n\);/);
  t.regex(r.stdout, /COMMENT ON COLUMN users\.id IS 'The user''s handle';/);
  t.regex(r.stdout, /CREATE TABLE IF NOT EXISTS user_visits \(\n(?:(?!PRIMARY)[^;])*tags JSON,\n  flow_document JSON NOT NULL\n\);/, 'delta updates: no primary key; tags included, lastPage excluded');
  t.notRegex(r.stdout.split('user_visits')[1]!.split('-- acme/lite')[0]!, /lastPage/);
});

test.serial('a catalog endpoint naming an unset variable fails at load, naming it', async (t) => {
  const r = await runCli(['materializations', 'ddl', '--source', USERS_CATALOG], { env: { PGPORT: '5432', SQLITE_PATH: '/tmp/x.db', PGPASSWORD: '' } });
  t.is(r.code, 0, 'an empty variable is set');
  const env = { ...process.env };
  delete env.PGPASSWORD;
  const missing = await new Promise<{ code: number; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, [CLI, 'materializations', 'ddl', '--source', USERS_CATALOG], { env: { ...env, PGPORT: '5432', SQLITE_PATH: '/tmp/x.db' } });
    let stderr = '';
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
  t.not(missing.code, 0);
  t.regex(missing.stderr, /users\.flow\.yaml:\d+ endpoints\."acme\/pg"\.postgres\.password: environment variable PGPASSWORD is not set/);
});

test.serial('a materialization keeps each table equal to the reduction of the collection, and a second run adds only what is new', async (t) => {
  const { b, env } = await setup(t);
  await ingestVisits(b, 0, 300);
  const first = await runMaterializer(b.url, env, ['--settle']);
  t.is(first.exit, 0, first.stderr);
  await assertTables(t, b, env);
  await ingestVisits(b, 300, 150, 30);
  const second = await runMaterializer(b.url, env, ['--settle']);
  t.is(second.exit, 0, second.stderr);
  await assertTables(t, b, env);
});

for (const point of ['consumer.read:100', 'materialize.load:3', 'materialize.store:4', 'materialize.committed:4', 'consumer.committed:3']) {
  test.serial(`SIGKILL at ${point}: after a restart every table is exactly the reduction of all input`, async (t) => {
    const { b, env } = await setup(t);
    await ingestVisits(b, 0, 300, 20, 25);
    const crashed = await runMaterializer(b.url, { ...env, INLET_CRASH_AT: point }, ['--settle', '--txn-ms', '5']);
    t.is(crashed.exit, 'SIGKILL', `the materializer should have killed itself at ${point}: ${crashed.stderr}`);
    await ingestVisits(b, 300, 100);
    const again = await runMaterializer(b.url, env, ['--settle', '--txn-ms', '5']);
    t.is(again.exit, 0, again.stderr);
    await assertTables(t, b, env);
  });
}

test.serial('a second process fences the first off: its next commit fails and it exits, and the tables stay exact', async (t) => {
  const { b, env } = await setup(t);
  await ingestVisits(b, 0, 100);
  const first = spawn(process.execPath, [CLI, 'runtime', '--catalog', USERS_CATALOG, '--broker', b.url], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => first.kill('SIGKILL'));
  let firstErr = '';
  first.stderr.on('data', (c: Buffer) => (firstErr += c.toString()));
  const firstExit = new Promise<number | string>((resolve) => first.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  // The first process has committed once it has written the checkpoints of all three tables.
  for (;;) {
    const rows = await pg.query<{ n: string }>("SELECT count(*) AS n FROM pg_tables WHERE tablename = 'inlet_checkpoints'");
    if (Number(rows[0]!.n) === 1 && Number((await pg.query<{ n: string }>('SELECT count(*) AS n FROM inlet_checkpoints WHERE checkpoint IS NOT NULL'))[0]!.n) === 2) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const second = await runMaterializer(b.url, env, ['--settle']);
  t.is(second.exit, 0, second.stderr);
  await ingestVisits(b, 100, 50);
  t.is(await firstExit, 1, 'the fenced process exits with an error');
  t.regex(firstErr, /another process has opened it since this one did/);
  const last = await runMaterializer(b.url, env, ['--settle']);
  t.is(last.exit, 0, last.stderr);
  await assertTables(t, b, env);
});

test.serial('schema evolution: a new optional field becomes a new column; a changed type is an error naming the column', async (t) => {
  await pg.query('DROP TABLE IF EXISTS things, inlet_checkpoints');
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const schema = (props: string) => `{ type: object, reduce: { strategy: merge }, required: [id, n], properties: { id: { type: string }, n: { type: integer, reduce: { strategy: sum } }${props} } }`;
  await writeFile(join(dir, 'things.schema.yaml'), schema(''));
  await writeFile(join(dir, 'collection.flow.yaml'), 'collections:\n  acme/things: { key: [/id], schema: things.schema.yaml }\n');
  await writeFile(
    join(dir, 'view.flow.yaml'),
    [
      'import: [collection.flow.yaml]',
      'endpoints:',
      `  pg: { postgres: { host: localhost, port: ${pg.config.port}, user: flow, password: flow, dbname: flow } }`,
      '  lite: { sqlite: { path: views.db } }',
      'materializations:',
      '  - { endpoint: { name: pg, config: { table: things } }, source: { name: acme/things } }',
      '  - { endpoint: { name: lite, config: { table: things } }, source: { name: acme/things } }',
    ].join('\n'),
  );
  const b = await startBroker({ args: ['--catalog', join(dir, 'collection.flow.yaml')] });
  t.teardown(() => cleanup(b));
  const materialize = () => runCli(['runtime', '--catalog', join(dir, 'view.flow.yaml'), '--broker', b.url, '--settle']);
  const columns = async () => (await pg.query<{ c: string }>("SELECT column_name AS c FROM information_schema.columns WHERE table_name = 'things' ORDER BY ordinal_position")).map((r) => r.c);

  t.is((await ingest(b, { 'acme/things': [{ id: 'a', n: 1 }] })).status, 200);
  t.is((await materialize()).code, 0);
  t.deepEqual(await columns(), ['id', 'n', 'flow_document']);

  await writeFile(join(dir, 'things.schema.yaml'), schema(', label: { type: string, description: A new field }'));
  t.is((await ingest(b, { 'acme/things': [{ id: 'a', n: 2, label: 'x' }, { id: 'b', n: 5, label: 'y' }] })).status, 200);
  const evolved = await materialize();
  t.is(evolved.code, 0, evolved.stderr);
  t.deepEqual(await columns(), ['id', 'n', 'flow_document', 'label']);
  t.deepEqual(await pg.query('SELECT id, n::int AS n, label FROM things ORDER BY id'), [
    { id: 'a', n: 3, label: 'x' },
    { id: 'b', n: 5, label: 'y' },
  ]);
  const db = new Database(join(dir, 'views.db'), { readonly: true });
  t.deepEqual(db.prepare('SELECT id, n, label FROM things ORDER BY id').all(), [
    { id: 'a', n: 3, label: 'x' },
    { id: 'b', n: 5, label: 'y' },
  ]);
  db.close();

  await writeFile(join(dir, 'things.schema.yaml'), schema(', label: { type: integer }'));
  const broken = await materialize();
  t.is(broken.code, 1);
  t.regex(broken.stderr, /table things: column label has type text, and field label needs (BIGINT|INTEGER)/i);
});

test.serial('full reduction keeps one row per key; delta updates append each transaction\'s combined documents', async (t) => {
  const { b, env } = await setup(t);
  await ingestVisits(b, 0, 40, 4, 10);
  t.is((await runMaterializer(b.url, env, ['--settle', '--txn-ms', '5'])).exit, 0);
  await ingestVisits(b, 40, 40, 4, 10);
  t.is((await runMaterializer(b.url, env, ['--settle', '--txn-ms', '5'])).exit, 0);
  const full = await pg.query<{ n: string }>('SELECT count(*) AS n FROM users');
  const delta = await pg.query<{ n: string; keys: string }>('SELECT count(*) AS n, count(DISTINCT id) AS keys FROM user_visits');
  t.is(Number(full[0]!.n), 4);
  t.is(Number(delta[0]!.keys), 4);
  t.true(Number(delta[0]!.n) >= 8, `two runs, so at least two rows per key: ${delta[0]!.n}`);
  await assertTables(t, b, env);
});

test.serial('names that are not plain identifiers are quoted, and such a table is written and read back', async (t) => {
  await pg.query('DROP TABLE IF EXISTS "Odd Table", inlet_checkpoints');
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'odd.flow.yaml'),
    [
      'collections:',
      '  acme/odd:',
      '    key: [/user, /a/b]',
      '    schema: { type: object, required: [user, a], properties: { user: { type: string }, a: { type: object, required: [b], properties: { b: { type: integer } } }, first-name: { type: string }, camelCase: { type: boolean } } }',
      'endpoints:',
      `  pg: { postgres: { host: localhost, port: ${pg.config.port}, user: flow, password: flow, dbname: flow } }`,
      'materializations:',
      '  - { endpoint: { name: pg, config: { table: Odd Table } }, source: { name: acme/odd } }',
    ].join('\n'),
  );
  const ddl = await runCli(['materializations', 'ddl', '--source', join(dir, 'odd.flow.yaml')]);
  t.regex(ddl.stdout, /CREATE TABLE IF NOT EXISTS "Odd Table" \(\n  "user" TEXT NOT NULL,\n  "a\/b" BIGINT NOT NULL,\n  "first-name" TEXT,\n  camelCase BOOLEAN,\n  flow_document JSON NOT NULL,\n  PRIMARY KEY \("user", "a\/b"\)\n\);/);
  const b = await startBroker({ args: ['--catalog', join(dir, 'odd.flow.yaml')] });
  t.teardown(() => cleanup(b));
  t.is((await ingest(b, { 'acme/odd': [{ user: 'x', a: { b: 1 }, 'first-name': 'X', camelCase: true }, { user: 'x', a: { b: 2 } }] })).status, 200);
  // inlet serve --catalog runs the materialization itself.
  await waitForStatus(b.url, caughtUp);
  t.deepEqual(await pg.query('SELECT "user", "a/b"::int AS b, "first-name", camelcase FROM "Odd Table" ORDER BY 2'), [
    { user: 'x', b: 1, 'first-name': 'X', camelcase: true },
    { user: 'x', b: 2, 'first-name': null, camelcase: null },
  ]);
});

test.serial('source.partitions: a materialization keeps only the partitions it selects', async (t) => {
  await pg.query('DROP TABLE IF EXISTS eu_events, inlet_checkpoints');
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'regions.flow.yaml'),
    [
      'collections:',
      '  acme/events:',
      '    key: [/id]',
      '    schema: { type: object, required: [id, region], properties: { id: { type: integer }, region: { type: string } } }',
      '    projections: { region: { location: /region, partition: true } }',
      'endpoints:',
      `  pg: { postgres: { host: localhost, port: ${pg.config.port}, user: flow, password: flow, dbname: flow } }`,
      'materializations:',
      '  - { endpoint: { name: pg, config: { table: eu_events } }, source: { name: acme/events, partitions: { include: { region: [eu] } } } }',
    ].join('\n'),
  );
  const b = await startBroker({ args: ['--catalog', join(dir, 'regions.flow.yaml')] });
  t.teardown(() => cleanup(b));
  const docs = Array.from({ length: 10 }, (_, id) => ({ id, region: id % 2 ? 'eu' : 'us' }));
  t.is((await ingest(b, { 'acme/events': docs })).status, 200);
  await waitForStatus(b.url, caughtUp);
  t.deepEqual((await pg.query<{ id: string }>('SELECT id FROM eu_events ORDER BY id')).map((r) => Number(r.id)), [1, 3, 5, 7, 9]);
});
