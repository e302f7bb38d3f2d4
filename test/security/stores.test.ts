import test from 'ava';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { appendTo, createJournal, readAll, runCli, startBroker, withTempDir } from '../helpers/broker.js';

function apply(url: string, journals: unknown[]): Promise<Response> {
  return fetch(`${url}/v1/journals/apply`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ journals }) });
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

/** Every fragment file under `dir` (none when it does not exist). */
async function fragmentFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && /^[0-9a-f]{16}-/.test(e.name)).map((e) => join(e.parentPath, e.name));
}

async function fragmentsOf(url: string, journal: string): Promise<{ fragments: unknown[]; spools: { sealed: boolean }[] }> {
  const body = (await (await fetch(`${url}/v1/fragments?journal=${encodeURIComponent(journal)}`)).json()) as { journals: { fragments: unknown[]; spools: { sealed: boolean }[] }[] };
  return body.journals[0]!;
}

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a spec may name only the operator\'s stores and postfixes inside its journal (regression: specs wrote outside the store, into other lakes and to any S3 endpoint)', async (t) => {
  await withTempDir(async (dir) => {
    const lake = `file://${join(dir, 'lake')}/`;
    const extra = `file://${join(dir, 'extra')}/`;
    const b = await startBroker({ dataDir: join(dir, 'd'), args: ['--store', lake, '--stores', extra, '--fragment-length', '1KiB'] });
    try {
      const refused: [unknown, string][] = [
        [{ stores: [`file://${join(dir, 'other')}/`] }, 'STORE_NOT_ALLOWED'],
        [{ stores: ['s3://lake/x/?endpoint=http%3A%2F%2F127.0.0.1%3A9&forcePathStyle=true'] }, 'STORE_NOT_ALLOWED'],
        [{ stores: [`file://otherhost${join(dir, 'lake')}/`] }, 'INVALID_SPEC'],
        [{ pathPostfixTemplate: '../../escape' }, 'INVALID_SPEC'],
        [{ pathPostfixTemplate: 'a/../../../b' }, 'INVALID_SPEC'],
        [{ pathPostfixTemplate: 'utc_date=%Y/./x' }, 'INVALID_SPEC'],
      ];
      for (const [fragment, code] of refused) {
        const res = await apply(b.url, [{ name: 's/refused', fragment }]);
        t.is(res.status, 400, JSON.stringify(fragment));
        t.is(await errorCode(res), code, JSON.stringify(fragment));
      }
      t.is((await fetch(`${b.url}/v1/journals`).then((r) => r.json()) as { journals: unknown[] }).journals.length, 0);

      // A store from --stores is fine, and its fragments land there.
      t.is((await apply(b.url, [{ name: 's/extra', fragment: { stores: [extra.slice(0, -1)] } }])).status, 200);
      t.is((await appendTo(b.url, 's/extra', 'x'.repeat(2000))).status, 204);
      t.is((await fetch(`${b.url}/v1/fragments/flush?journal=s/extra`, { method: 'POST' })).status, 200);
      t.is((await fragmentFiles(join(dir, 'extra', 's/extra'))).length, 1);
      t.deepEqual(await fragmentFiles(join(dir, 'other')), []);
      t.deepEqual(await fragmentFiles(join(dir, 'escape')), []);
    } finally {
      await b.stop('SIGKILL');
    }
  });
});

test('a broker refuses a file://otherhost/ store with one clear line, and starts on an empty data dir over a lake recording one (regression: it crashed at every start)', async (t) => {
  await withTempDir(async (dir) => {
    const bad = await runCli(['serve', '--port', '0', '--data-dir', join(dir, 'd0'), '--store', 'file://otherhost/lake/']);
    t.not(bad.code, 0);
    t.regex(bad.stderr, /--store: file:\/\/otherhost\/lake\/ names host otherhost/);
    t.false(bad.stderr.includes('    at '), bad.stderr);

    // A journal record mirrored into the lake (written by an older broker, or by hand) names a foreign host.
    const lake = join(dir, 'lake');
    await mkdir(join(lake, '_inlet/journals/evil'), { recursive: true });
    const spec = { name: 'evil/j', labels: {}, contentType: 'application/octet-stream', validateJson: false, fragment: { length: 1024, codec: 'gzip', flushInterval: '1h', pathPostfixTemplate: '', stores: ['file://otherhost/x/'], refreshInterval: '5m', retention: '0s' } };
    await writeFile(join(lake, '_inlet/journals/evil/j.json'), JSON.stringify({ spec, stream: {} }));
    for (const d of ['d1', 'd2']) {
      const b = await startBroker({ dataDir: join(dir, d), args: ['--store', `file://${lake}/`] });
      try {
        t.is((await fetch(`${b.url}/healthz`)).status, 200);
        t.is((await fetch(`${b.url}/v1/stream/evil/j`, { method: 'HEAD' })).status, 404);
        t.regex(b.logs(), /journal record in the store not adopted/);
        t.is((await createJournal(b.url, `ok/${d}`)).status, 201);
      } finally {
        await b.stop('SIGTERM');
      }
    }
  });
});

test('no journal reaches another\'s fragments: postfix-like names are refused, and deleting a journal keeps its children\'s files (regression: j/utc_date=… hid and deleted j\'s fragments)', async (t) => {
  await withTempDir(async (dir) => {
    const lake = join(dir, 'lake');
    const b = await startBroker({ dataDir: join(dir, 'd'), args: ['--store', `file://${lake}/`, '--fragment-length', '1KiB'] });
    try {
      for (const name of ['j/utc_date=2026-11-28', 'j/utc_hour=01/x']) {
        const res = await createJournal(b.url, name);
        t.is(res.status, 400, name);
        t.is(await errorCode(res), 'INVALID_JOURNAL_NAME');
      }
      // A key of the journal's own template is refused too.
      const own = await apply(b.url, [{ name: 'k/shard=1', fragment: { pathPostfixTemplate: 'shard=%Y' } }]);
      t.is(await errorCode(own), 'INVALID_JOURNAL_NAME');

      for (const name of ['j', 'j/x']) {
        t.is((await createJournal(b.url, name)).status, 201);
        for (let i = 0; i < 2; i++) t.is((await appendTo(b.url, name, `${name}:${i}:`.padEnd(1500, '.'))).status, 204);
      }
      t.is((await fetch(`${b.url}/v1/fragments/flush?selector=`, { method: 'POST' })).status, 200);
      t.is((await fragmentsOf(b.url, 'j')).fragments.length, 2);
      t.is((await fragmentsOf(b.url, 'j/x')).fragments.length, 2);
      t.is((await fetch(`${b.url}/v1/stream/j`, { method: 'DELETE' })).status, 204);
      t.is((await fragmentFiles(join(lake, 'j/x'))).length, 2);
      t.is((await readAll(b.url, 'j/x')).length, 3000);
    } finally {
      await b.stop('SIGKILL');
    }
  });
});

test('a dead store stalls only its own journals: the others keep appending and persisting (regression: two journals on a dead store stalled every journal with STORE_BACKLOG)', async (t) => {
  await withTempDir(async (dir) => {
    const dead = 's3://dead/p/?endpoint=http%3A%2F%2F127.0.0.1%3A1&region=us-east-1&forcePathStyle=true';
    const b = await startBroker({
      dataDir: join(dir, 'd'),
      args: ['--store', `file://${join(dir, 'lake')}/`, '--stores', dead, '--fragment-length', '1KiB', '--disk-budget', '4KiB'],
      env: { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' },
    });
    try {
      t.is((await apply(b.url, ['dead/1', 'dead/2'].map((name) => ({ name, fragment: { stores: [dead] } })))).status, 200);
      const chunk = 'd'.repeat(1500);
      const status = async (name: string) => (await appendTo(b.url, name, chunk)).status;
      let refused = 0;
      for (let i = 0; i < 12; i++) for (const name of ['dead/1', 'dead/2']) if ((await status(name)) === 503) refused++;
      t.true(refused > 0, 'the dead store backlog reaches the budget');
      t.is((await createJournal(b.url, 'ok/1')).status, 201);
      // Each append to ok/1 is acknowledged, and the spool it seals reaches ok/1's store while
      // the dead store's uploads keep failing.
      for (let i = 1; i <= 6; i++) {
        t.is(await status('ok/1'), 204);
        await until(`ok/1 persists ${i - 1} fragments`, async () => (await fragmentsOf(b.url, 'ok/1')).fragments.length >= i - 1);
      }
      t.is(await status('dead/1'), 503);
      t.true((await readAll(b.url, 'dead/1')).length >= 3000, 'the dead store\'s journals keep what they acknowledged');
    } finally {
      await b.stop('SIGKILL');
    }
  });
});

test('an upload counts only once the store confirms its size and checksum (regression: a lying HEAD made the broker drop a spool it never uploaded)', async (t) => {
  await withTempDir(async (dir) => {
    const requests: string[] = [];
    // An S3 endpoint that answers 200 to everything and keeps nothing.
    const liar = createServer((req: IncomingMessage, res) => {
      requests.push(req.method!);
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-length': '0', etag: '"0"' }).end());
    });
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
    const store = `s3://liar/p/?endpoint=${encodeURIComponent(`http://127.0.0.1:${(liar.address() as AddressInfo).port}`)}&region=us-east-1&forcePathStyle=true`;
    const b = await startBroker({
      dataDir: join(dir, 'd'),
      args: ['--store', `file://${join(dir, 'lake')}/`, '--stores', store, '--fragment-length', '1KiB'],
      env: { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' },
    });
    try {
      t.is((await apply(b.url, [{ name: 'l/j', fragment: { stores: [store] } }])).status, 200);
      for (let i = 0; i < 2; i++) t.is((await appendTo(b.url, 'l/j', 'l'.repeat(1500))).status, 204);
      // Two uploads, each followed by a HEAD that does not confirm it: the spool stays.
      await until('the broker retried', async () => requests.filter((m) => m === 'PUT').length >= 2);
      const state = await fragmentsOf(b.url, 'l/j');
      t.is(state.fragments.length, 0);
      t.true(state.spools.some((s) => s.sealed));
      t.is((await readAll(b.url, 'l/j')).length, 3000);
    } finally {
      await b.stop('SIGKILL');
      liar.closeAllConnections();
      liar.close();
    }
  });
});
