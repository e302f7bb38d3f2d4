import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { bearer, newKey, tokenFor } from './helpers/auth.js';
import { cleanup, ROOT, startBroker, tempDir } from './helpers/broker.js';
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
