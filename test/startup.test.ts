import test, { type ExecutionContext } from 'ava';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { appendTo, cleanup, createJournal, readAll, runCli, startBroker, tempDir, withTempDir } from './helpers/broker.js';

const APPENDS = Array.from({ length: 20 }, (_, i) => `append ${i}\n`);

async function appendAll(url: string): Promise<void> {
  t0(await createJournal(url, 'lock/j', 'text/plain'));
  for (const line of APPENDS) t0(await appendTo(url, 'lock/j', line, 'text/plain'));
}
function t0(res: Response): void {
  if (res.status >= 300) throw new Error(`HTTP ${res.status}`);
}

test('a second broker on a data dir in use exits at once naming the dir and the holder, and the first keeps every acknowledged append (regression: both served and one deleted the other\'s spools)', async (t) => {
  const first = await startBroker();
  try {
    await appendAll(first.url);
    const second = await runCli(['serve', '--port', '0', '--data-dir', first.dataDir, '--log-level', 'warn']);
    t.is(second.code, 1, second.stderr);
    t.is(second.stderr.trim().split('\n').length, 1, second.stderr);
    t.regex(second.stderr, new RegExp(`^inlet: data dir ${first.dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by another broker \\(pid ${first.proc.pid}\\)`));
    t.is((await readAll(first.url, 'lock/j')).toString(), APPENDS.join(''));
    t.is(await first.stop('SIGTERM'), 0);
    await assertRestartServesAppends(t, first.dataDir);
  } finally {
    await cleanup(first);
  }
});

test('the lock of a SIGKILLed broker does not block its restart', async (t) => {
  const first = await startBroker();
  try {
    await appendAll(first.url);
    t.is(await first.stop('SIGKILL'), 'SIGKILL');
    await assertRestartServesAppends(t, first.dataDir);
  } finally {
    await cleanup(first);
  }
});

test('a busy port is one line and exit 1, and the data dir is free again at once', async (t) => {
  const first = await startBroker();
  const port = new URL(first.url).port;
  try {
    await withTempDir(async (dir) => {
      const res = await runCli(['serve', '--port', port, '--data-dir', dir, '--log-level', 'warn']);
      t.is(res.code, 1, res.stderr);
      t.is(res.stderr.trim(), `inlet: port ${port} on 127.0.0.1 is in use by another process; stop it or pick another --port`);
      // The failed start released its lock: a broker on the same dir starts.
      const other = await startBroker({ dataDir: dir });
      await other.stop();
    });
  } finally {
    await cleanup(first);
  }
});

test('an unusable data dir or catalog is one line naming it, with the stack only at --log-level debug', async (t) => {
  const dir = await tempDir();
  try {
    const file = join(dir, 'a-file');
    await writeFile(file, 'not a directory');
    const res = await runCli(['serve', '--port', '0', '--data-dir', join(file, 'data')]);
    t.is(res.code, 1, res.stderr);
    t.regex(res.stderr, /^inlet: cannot create data dir .*a-file\/data: ENOTDIR\n$/);
    const debug = await runCli(['serve', '--port', '0', '--data-dir', join(file, 'data'), '--log-level', 'debug']);
    t.regex(debug.stderr, /\n\s+at /);

    const catalog = await runCli(['serve', '--port', '0', '--data-dir', join(dir, 'd'), '--log-level', 'warn', '--catalog', join(dir, 'missing.flow.yaml')]);
    t.is(catalog.code, 2, catalog.stderr);
    t.is(catalog.stderr.trim().split('\n').length, 1, catalog.stderr);
    t.regex(catalog.stderr, /^inlet: cannot read catalog .*missing\.flow\.yaml/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an unknown INLET_* variable gets a warning naming the closest setting', async (t) => {
  const b = await startBroker({ env: { INLET_DATADIR: '/tmp/nowhere', INLET_FLUSH_INTERVALL: '1m' } });
  try {
    t.regex(b.logs(), /inlet: warning: INLET_DATADIR is not a setting, ignored \(did you mean "INLET_DATA_DIR"\?\)/);
    t.regex(b.logs(), /INLET_FLUSH_INTERVALL is not a setting, ignored \(did you mean "INLET_FLUSH_INTERVAL"\?\)/);
  } finally {
    await cleanup(b);
  }
});

/** A broker restarted on `dataDir` serves every acknowledged append of APPENDS. */
async function assertRestartServesAppends(t: ExecutionContext, dataDir: string): Promise<void> {
  const again = await startBroker({ dataDir });
  try {
    t.is((await readAll(again.url, 'lock/j')).toString(), APPENDS.join(''));
  } finally {
    await again.stop();
  }
}
