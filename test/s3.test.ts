import test from 'ava';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Store } from '../src/fragments/stores/s3.js';
import { appendTo, readAll, runCli, startBroker, tempDir } from './helpers/broker.js';
import { checkFragment, shipment } from './helpers/lake.js';
import { startS3 } from './helpers/s3.js';

const JOURNAL = 'orders/region=eu/pivot=00';

async function appendDocs(url: string, from: number, batches: number): Promise<{ statuses: number[]; body: string }> {
  const statuses: number[] = [];
  let all = '';
  for (let k = 0; k < batches; k++) {
    let body = '';
    for (let i = 0; i < 200; i++) body += shipment(from + k * 200 + i, 'DHL');
    const res = await appendTo(url, JOURNAL, body, 'application/x-ndjson');
    statuses.push(res.status);
    if (res.status === 204) all += body;
  }
  return { statuses, body: all };
}

/** Polls (bounded) until the store's fragments of the journal reach `end`. */
async function storeReaches(store: S3Store, end: number, timeoutMs = 60_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const keys = (await store.list(`${JOURNAL}/`)).map((o) => o.key);
    const reach = Math.max(0, ...keys.map((k) => parseInt(k.split('/').pop()!.split('-')[1]!, 16)));
    if (reach >= end) return keys;
    if (Date.now() > deadline) throw new Error(`store reached ${reach}, not ${end}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('fragments persist to an S3 store; while it is down appends are acknowledged up to the disk budget, and the backlog uploads when it returns', async (t) => {
  const s3 = await startS3();
  Object.assign(process.env, s3.env);
  const dir = await tempDir();
  const storeUrl = s3.storeUrl('inlet/');
  const store = new S3Store(storeUrl);
  const args = ['--store', storeUrl, '--fragment-length', '64KiB', '--disk-budget', '600KiB'];
  try {
    const b = await startBroker({ dataDir: join(dir, 'data'), args, env: s3.env });
    t.is((await fetch(`${b.url}/v1/stream/${JOURNAL}`, { method: 'PUT', headers: { 'content-type': 'application/x-ndjson' } })).status, 201);
    const first = await appendDocs(b.url, 0, 10); // ~400 KB
    t.true(first.statuses.every((s) => s === 204));
    await storeReaches(store, first.body.length - 70_000);

    let expected = Buffer.from(first.body);
    if (s3.canStop) {
      // The store goes away: appends are still acknowledged from local disk...
      await s3.stop();
      const during = await appendDocs(b.url, 2000, 10);
      t.true(during.statuses.slice(0, 5).every((s) => s === 204), String(during.statuses));
      // ...until the backlog passes the disk budget: then 503, never silent loss.
      let refused: Response | undefined;
      for (let i = 0; i < 40 && !refused; i++) {
        const res = await appendTo(b.url, JOURNAL, shipment(9_000 + i, 'DHL').repeat(200), 'application/x-ndjson');
        if (res.status === 503) refused = res;
        else t.is(res.status, 204);
        if (res.status === 204) during.body += shipment(9_000 + i, 'DHL').repeat(200);
      }
      t.truthy(refused, 'appends were refused once the backlog passed the budget');
      const err = (await refused!.json()) as { error: { code: string; message: string } };
      t.is(err.error.code, 'STORE_BACKLOG');
      t.regex(err.error.message, /disk budget/);

      // The store returns; the backlog uploads and appends are accepted again.
      await s3.restart();
      expected = Buffer.from(first.body + during.body);
      await storeReaches(store, expected.length - 70_000);
    } else {
      t.log('external S3 endpoint: the outage part of this test needs a store the test can stop');
    }
    const after = await appendDocs(b.url, 50_000, 2);
    t.true(after.statuses.every((s) => s === 204));
    t.is(await b.stop('SIGTERM'), 0);
    const all = Buffer.concat([expected, Buffer.from(after.body)]);
    const final = await storeReaches(store, all.length);

    // Every fragment in the bucket holds exactly its bytes; `inlet fragments verify` agrees.
    for (const key of final) {
      t.regex(key, /^orders\/region=eu\/pivot=00\/utc_date=\d{4}-\d{2}-\d{2}\/utc_hour=\d{2}\/[0-9a-f]{16}-[0-9a-f]{16}-[0-9a-f]{40}\.gz$/);
      const chunks: Buffer[] = [];
      for await (const c of await store.open(key)) chunks.push(c as Buffer);
      t.is(checkFragment(key.split('/').pop()!, Buffer.concat(chunks), all), undefined);
    }

    // A broker with an empty data dir over the bucket serves the whole history.
    const b2 = await startBroker({ dataDir: join(dir, 'data2'), args, env: s3.env });
    t.true((await readAll(b2.url, JOURNAL)).equals(all));
    const verify = await runCli(['fragments', 'verify', JOURNAL, '--broker', b2.url], { env: s3.env });
    t.is(verify.code, 0, verify.stdout + verify.stderr);
    t.regex(verify.stderr, new RegExp(`${final.length} fragment\\(s\\) checked, 0 bad`));
    const list = await runCli(['fragments', 'list', JOURNAL, '--broker', b2.url], { env: s3.env });
    t.regex(list.stdout, /s3:\/\/lake\/inlet\/orders\/region=eu\/pivot=00\/utc_date=/);
    await b2.stop('SIGKILL');
  } finally {
    await s3.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});
