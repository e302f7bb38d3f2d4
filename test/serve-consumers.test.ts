import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { bearer, newKey, tokenFor } from './helpers/auth.js';
import { cleanup, ROOT, runCli, startBroker, tempDir } from './helpers/broker.js';
import { ingest } from './helpers/collections.js';
import { sqliteUsers } from './helpers/materialize.js';

const CATALOG = join(ROOT, 'test/fixtures/serve/users-lite.flow.yaml');

test('with --auth-keys, the consumers of inlet serve --catalog sign their own token and materialize what is ingested', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const keys = newKey();
  const sqlite = join(dir, 'views.db');
  const b = await startBroker({ args: ['--catalog', CATALOG], env: { INLET_AUTH_KEYS: keys, SQLITE_PATH: sqlite } });
  t.teardown(() => cleanup(b));
  const token = await tokenFor(keys, ['LIST', 'READ', 'INGEST']);
  const res = await ingest(b, { 'acme/users': [{ id: 'u1', visits: 2 }, { id: 'u2', visits: 1 }, { id: 'u1', visits: 3 }] }, bearer(token));
  t.is(res.status, 200, await res.text());
  for (;;) {
    const status = await fetch(`${b.url}/v1/materializations`, { headers: bearer(token) });
    t.is(status.status, 200);
    const [m] = ((await status.json()) as { materializations: { state: string; lagBytes: number; rowsWritten: number; lastError?: string }[] }).materializations;
    t.not(m!.state, 'failed', m!.lastError);
    if (m!.lagBytes === 0 && m!.rowsWritten > 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const rows = sqliteUsers(sqlite);
  t.deepEqual([...rows.keys()].sort(), ['u1', 'u2']);
  t.is(rows.get('u1')!.doc.visits, 5);
});

test("inlet runtime runs a catalog's derivations and materializations in one process against a remote broker: the chat view in SQLite", async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const chat = join(ROOT, 'catalog/examples/chat');
  // The broker serves the inputs only; the runtime derives userDetails and keeps it as a table.
  const b = await startBroker({ args: ['--catalog', join(chat, 'inputs.flow.yaml')] });
  t.teardown(() => cleanup(b));
  const view = join(dir, 'view.flow.yaml');
  await writeFile(
    view,
    [
      `import: [${JSON.stringify(join(chat, 'userDetails.flow.yaml'))}]`,
      `endpoints: { lite: { sqlite: { path: ${JSON.stringify(join(dir, 'views.db'))} } } }`,
      'materializations:',
      '  - { endpoint: { name: lite, config: { table: user_details } }, source: { name: userDetails } }',
    ].join('\n'),
  );
  const res = await ingest(b, {
    messages: [
      { id: 'm94', roomId: 'r31', senderId: 'sasha-rosse', timestamp: 1483, content: 'Perfect!' },
      { id: 'm75', roomId: 'r20', senderId: 'mac-tyler', timestamp: 1359, content: 'I have a great idea...' },
      { id: 'm87', roomId: 'r20', senderId: 'mac-tyler', timestamp: 1372, content: "Let's go see Giraffage tonight!" },
    ],
    roomUsers: [
      { roomId: 'r31', userId: 'liron-shapira', seenTimestamp: 1310 },
      { roomId: 'r20', userId: 'liron-shapira', seenTimestamp: 1308 },
    ],
  });
  t.is(res.status, 200, await res.text());
  const run = await runCli(['runtime', '--catalog', view, '--broker', b.url, '--data-dir', join(dir, 'rt'), '--settle']);
  t.is(run.code, 0, run.stderr);
  const db = new Database(join(dir, 'views.db'), { readonly: true });
  t.teardown(() => db.close());
  t.deepEqual(db.prepare('SELECT id, numUnreadRooms AS n FROM user_details').all(), [{ id: 'liron-shapira', n: 2 }]);
});
