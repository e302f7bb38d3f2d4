import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { cleanup, runCli, startBroker, tempDir, type TestBroker } from './helpers/broker.js';
import { caughtUp, expectedUsers, ingestVisits, pgUsers, sqliteUsers, USERS_CATALOG, usersEnv, waitForStatus } from './helpers/materialize.js';
import { startTestPostgres, type TestPostgres } from './helpers/postgres.js';

let pg: TestPostgres;

test.before(async () => {
  pg = await startTestPostgres();
});
test.after.always(async () => {
  await pg?.destroy();
});

async function fresh(t: ExecutionContext): Promise<{ dataDir: string; env: NodeJS.ProcessEnv }> {
  await pg.query('DROP TABLE IF EXISTS users, user_visits, inlet_checkpoints');
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return { dataDir: join(dir, 'data'), env: usersEnv(pg, join(dir, 'views.db')) };
}

async function assertExact(t: ExecutionContext, b: TestBroker, env: NodeJS.ProcessEnv): Promise<void> {
  const expected = await expectedUsers(b);
  const full = await pgUsers(pg);
  const lite = sqliteUsers(env.SQLITE_PATH!);
  const byId = <V>(m: Map<string, V>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
  t.deepEqual(byId(new Map([...full].map(([id, r]) => [id, r.doc]))), byId(expected), 'PostgreSQL');
  t.deepEqual(byId(new Map([...lite].map(([id, r]) => [id, r.doc]))), byId(expected), 'SQLite');
  const sums = await pg.query<{ id: string; visits: string }>('SELECT id, sum(visits) AS visits FROM user_visits GROUP BY id');
  t.deepEqual(Object.fromEntries(sums.map((r) => [r.id, Number(r.visits)])), Object.fromEntries([...expected].map(([id, u]) => [id, u.visits])), 'delta updates');
}

test.serial('inlet serve --catalog keeps the tables exact through a stream of ingests and two SIGKILLs', async (t) => {
  const { dataDir, env } = await fresh(t);
  let b = await startBroker({ dataDir, args: ['--catalog', USERS_CATALOG], env });
  t.teardown(() => cleanup(b));
  let at = 0;
  for (let round = 0; round < 3; round++) {
    await ingestVisits(b, at, 100, 25, 10);
    // More ingests are in flight, and the materializations committing, when the process is killed.
    const stream = ingestVisits(b, at + 100, 100, 25, 10);
    at += 200;
    if (round < 2) {
      await b.stop('SIGKILL');
      await stream.catch(() => undefined);
      b = await startBroker({ dataDir, args: ['--catalog', USERS_CATALOG], env });
    } else {
      await stream;
    }
  }
  await waitForStatus(b.url, caughtUp);
  await assertExact(t, b, env);
  const status = await runCli(['materializations', 'status', '--broker', b.url]);
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, /^MATERIALIZATION\s+SOURCE\s+STATE\s+LAG\s+ROWS\s+LAST COMMIT\s+LAST ERROR\n/);
  t.regex(status.stdout, /acme\/pg\/users\s+acme\/users\s+running\s+0 B\s+\d+\s+20\d\d-/);
  const metrics = await (await fetch(`${b.url}/metrics`)).text();
  t.regex(metrics, /inlet_materialization_rows_total\{materialization="acme\/pg\/users"\} \d+/);
});

test.serial('PostgreSQL down: its materializations retry with the error in their status, SQLite goes on, and all converge when it is back', async (t) => {
  const { dataDir, env } = await fresh(t);
  const b = await startBroker({ dataDir, args: ['--catalog', USERS_CATALOG], env });
  t.teardown(() => cleanup(b));
  await ingestVisits(b, 0, 100);
  await waitForStatus(b.url, caughtUp);
  await pg.stop();
  await ingestVisits(b, 100, 100);
  const down = await waitForStatus(b.url, (s) => s.filter((m) => m.name.startsWith('acme/pg/')).every((m) => m.state === 'retrying') && s.find((m) => m.name === 'acme/lite/users')!.lagBytes === 0);
  for (const m of down.filter((m) => m.name.startsWith('acme/pg/'))) t.regex(m.lastError ?? '', /PostgreSQL flow@localhost:\d+\/flow: /, m.name);
  t.is(down.find((m) => m.name === 'acme/lite/users')!.state, 'running');
  await pg.start();
  await waitForStatus(b.url, caughtUp);
  await assertExact(t, b, env);
});
