import { spawn } from 'node:child_process';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import pg from 'pg';
import { CLI, tempDir } from './helpers/broker.js';
import { ingest } from './helpers/collections.js';
import { freePort } from './helpers/postgres.js';

/** `inlet develop` as a user runs it: stdout until it listens, then a real SIGINT. */
function develop(catalog: string, dataDir: string) {
  const proc = spawn(process.execPath, [CLI, 'develop', '--source', catalog, '--port', '0', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const listening = new Promise<{ url: string; out: string }>((resolve, reject) => {
    proc.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve({ url: m[1]!, out });
    });
    void exited.then((code) => reject(new Error(`develop exited (${code}):\n${err}`)));
  });
  return { proc, listening, exited, stderr: () => err };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('inlet develop starts PostgreSQL for a local endpoint, materializes into it, stops it at Ctrl-C, and reuses its data next time', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // mkdtemp's directory is closed to others: as root, where `nobody` cannot reach, the cluster goes to the temp dir.
  await chmod(dir, 0o700);
  const port = await freePort();
  await writeFile(
    join(dir, 'view.flow.yaml'),
    [
      'collections:',
      '  userDetails:',
      '    key: [/id]',
      '    schema: { type: object, reduce: { strategy: merge }, required: [id], properties: { id: { type: string }, numUnreadRooms: { type: integer, reduce: { strategy: sum } } } }',
      'endpoints:',
      `  demo/database: { postgres: { host: localhost, port: ${port}, user: flow, password: flow, dbname: flow } }`,
      'materializations:',
      '  - { endpoint: { name: demo/database, config: { table: user_details } }, source: { name: userDetails } }',
    ].join('\n'),
  );
  const query = async (sql: string) => {
    const c = new pg.Client({ host: 'localhost', port, user: 'flow', password: 'flow', database: 'flow' });
    await c.connect();
    try {
      return (await c.query(sql)).rows as Record<string, unknown>[];
    } finally {
      await c.end();
    }
  };
  const rows = async (want: number) => {
    // The row appears once the materialization commits: wait for that condition.
    for (;;) {
      const r = await query('SELECT id, numUnreadRooms FROM user_details').catch(() => []);

      if (r.length > 0 && Number(r[0]!.numunreadrooms) === want) return r;
      await new Promise((res) => setTimeout(res, 20));
    }
  };

  const first = develop(join(dir, 'view.flow.yaml'), join(dir, 'data'));
  t.teardown(() => first.proc.kill('SIGKILL'));
  const { url, out } = await first.listening;
  const m = out.match(/postgres demo\/database: started a new PostgreSQL on localhost:\d+ \(pid (\d+),.*connect: (psql -h localhost -p \d+ -U flow flow|postgresql:\S+)/);
  t.truthy(m, out);
  t.regex(out, /materialization demo\/database\/user_details: userDetails kept as table user_details/);
  const pid = Number(m![1]);
  t.true(alive(pid));
  const cluster = out.match(/data (\S+)\); connect/)![1]!;
  if (process.getuid?.() === 0) {
    t.true(cluster.startsWith(join(tmpdir(), 'inlet-postgres')), cluster);
    t.teardown(() => rm(cluster, { recursive: true, force: true }));
  } else {
    t.is(cluster, join(dir, 'data', 'postgres', 'demo_database'));
  }
  t.is((await ingest({ url }, { userDetails: [{ id: 'liron-shapira', numUnreadRooms: 1 }, { id: 'liron-shapira', numUnreadRooms: 1 }] })).status, 200);
  t.deepEqual(await rows(2), [{ id: 'liron-shapira', numunreadrooms: '2' }]);
  first.proc.kill('SIGINT');
  t.is(await first.exited, 0, first.stderr());
  t.false(alive(pid), 'PostgreSQL stopped with develop');

  const second = develop(join(dir, 'view.flow.yaml'), join(dir, 'data'));
  t.teardown(() => second.proc.kill('SIGKILL'));
  const again = await second.listening;
  t.regex(again.out, /postgres demo\/database: started PostgreSQL on localhost/, 'the second develop reuses the data');
  t.is((await ingest({ url: again.url }, { userDetails: [{ id: 'liron-shapira', numUnreadRooms: -1 }] })).status, 200);
  t.deepEqual(await rows(1), [{ id: 'liron-shapira', numunreadrooms: '1' }]);
  const pid2 = Number(again.out.match(/\(pid (\d+)/)![1]);
  second.proc.kill('SIGINT');
  t.is(await second.exited, 0, second.stderr());
  t.false(alive(pid2));
});
