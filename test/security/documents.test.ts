import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ingest } from '../helpers/collections.js';
import { appendTo, cleanup, CLI, createJournal, readAll, startBroker, tempDir, withTempDir, type TestBroker } from '../helpers/broker.js';
import { rm } from 'node:fs/promises';

// Findings (issue 16.7): integer keys above 2^53 merged silently (received: 2, stored: 1); ajv
// looked at inherited properties; an over-long name answered 500 ENAMETOOLONG; a full disk
// answered 500; the 413 message did not name the limit.

const CATALOG = `collections:
  sec/orders:
    key: [/id]
    schema:
      type: object
      reduce: { strategy: merge }
      required: [id, shard]
      properties:
        id: { type: integer }
        shard: { type: integer }
        total: { type: integer, reduce: { strategy: sum } }
    projections:
      shard: { location: /shard, partition: true }
  sec/proto:
    key: [/id]
    schema:
      type: object
      required: [id]
      properties:
        id: { type: integer }
        constructor: { type: string }
  sec/required:
    key: [/id]
    schema:
      type: object
      required: [id, toString]
      properties:
        id: { type: integer }
`;

let b: TestBroker;
let dir: string;

test.before(async () => {
  dir = await tempDir();
  await writeFile(join(dir, 'catalog.flow.yaml'), CATALOG);
  b = await startBroker({ args: ['--catalog', join(dir, 'catalog.flow.yaml'), '--max-append-size', '4KiB'] });
});
test.after.always(async () => {
  if (b) await cleanup(b);
  await rm(dir, { recursive: true, force: true });
});

async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, ...body.error };
}

test('integer keys 2^53 apart are refused with 400 naming the key, not merged into one document', async (t) => {
  const body = '{"sec/orders":[{"id":9007199254740993,"shard":1},{"id":9007199254740992,"shard":1}]}';
  const e = await errorOf(await ingest(b, body));
  t.like(e, { status: 400, code: 'INVALID_DOCUMENT' });
  t.is(e.message, 'sec/orders[0]: /id: 9007199254740993 is an integer beyond ±9007199254740991, which a JSON number cannot hold exactly (it would be stored as 9007199254740992); send it as a string');
  const ok = (await (await ingest(b, { 'sec/orders': [{ id: 9007199254740991, shard: 1 }, { id: 9007199254740990, shard: 1 }] })).json()) as { received: number; stored: number };
  t.like(ok, { received: 2, stored: 2 });
});

test('any number JSON cannot hold exactly is refused, naming its document and field; strings and floats are kept', async (t) => {
  const partition = await errorOf(await ingest(b, '{"sec/orders":[{"id":1,"shard":1},{"id":2,"shard":18014398509481985}]}'));
  t.like(partition, { status: 400, code: 'INVALID_DOCUMENT' });
  t.regex(partition.message, /^sec\/orders\[1\]: \/shard: 18014398509481985 is an integer beyond/);
  const nested = await errorOf(await ingest(b, '{"sec/orders":[{"id":3,"shard":1,"extra":{"ns":[1732700000000000001]}}]}'));
  t.regex(nested.message, /^sec\/orders\[0\]: \/extra\/ns\/0: 1732700000000000001 is an integer beyond/);
  const huge = await errorOf(await ingest(b, `{"sec/orders":[{"id":5,"shard":1,"x":1${'0'.repeat(400)}}]}`));
  t.regex(huge.message, /^sec\/orders\[0\]: \/x: 10{23}… \(401 digits\) is an integer beyond .* stored as Infinity/);
  const kept = '{"sec/orders":[{"id":4,"shard":1,"card":"41111111111111111111","big":1e17,"ratio":0.12345678901234567890}]}';
  const res = await ingest(b, kept);
  t.is(res.status, 200, await res.clone().text());
});

test('a JSON-mode journal refuses an append whose numbers it would store changed', async (t) => {
  await createJournal(b.url, 'exact/json', 'application/json');
  const e = await errorOf(await appendTo(b.url, 'exact/json', '[{"n":1},{"n":9007199254740993}]', 'application/json'));
  t.like(e, { status: 400, code: 'INVALID_CONTENT' });
  t.regex(e.message, /^\/1\/n: 9007199254740993 is an integer beyond/);
  t.is((await appendTo(b.url, 'exact/json', '[{"n":"9007199254740993"},{"n":9007199254740991}]', 'application/json')).status, 204);
  t.is((await readAll(b.url, 'exact/json')).toString(), '[{"n":"9007199254740993"},{"n":9007199254740991}]');
});

test('a sum that leaves the exact integers is refused with 400 naming the field', async (t) => {
  const docs = [{ id: 7, shard: 2, total: 9007199254740990 }, { id: 7, shard: 2, total: 5 }];
  const e = await errorOf(await ingest(b, { 'sec/orders': docs }));
  t.like(e, { status: 400, code: 'REDUCE_FAILED' });
  t.regex(e.message, /\/total: sum of 9007199254740990 and 5 is beyond the exactly representable integers/);
  // 2^55 is exact, but adding 1 to it is not.
  const big = await errorOf(await ingest(b, '{"sec/orders":[{"id":8,"shard":2,"total":36028797018963968},{"id":8,"shard":2,"total":1}]}'));
  t.like(big, { status: 400, code: 'REDUCE_FAILED' });
});

test('a schema naming constructor validates documents by their own properties only', async (t) => {
  const res = await ingest(b, { 'sec/proto': [{ id: 1 }, { id: 2, constructor: 'mine' }] });
  t.is(res.status, 200, await res.clone().text());
  t.like(await errorOf(await ingest(b, { 'sec/proto': [{ id: 3, constructor: 5 }] })), { status: 400, code: 'INVALID_DOCUMENT' });
});

test('required: [toString] requires an own toString property', async (t) => {
  const e = await errorOf(await ingest(b, { 'sec/required': [{ id: 1 }] }));
  t.like(e, { status: 400, code: 'INVALID_DOCUMENT' });
  t.regex(e.message, /toString/);
  t.is((await ingest(b, { 'sec/required': [{ id: 2, toString: 'x' }] })).status, 200);
});

test('an over-long journal name is 400 INVALID_JOURNAL_NAME, not 500 ENAMETOOLONG', async (t) => {
  const name = `long/${'a'.repeat(300)}`;
  const put = await errorOf(await createJournal(b.url, name));
  t.like(put, { status: 400, code: 'INVALID_JOURNAL_NAME' });
  t.regex(put.message, /segment of 300 characters; segments between \/ may be at most 255/);
  const apply = await fetch(`${b.url}/v1/journals/apply`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ journals: [{ name }] }),
  });
  t.is(apply.status, 400);
  t.is((await createJournal(b.url, `long/${'a'.repeat(255)}`)).status, 201);
});

test('the 413 message names the limit', async (t) => {
  await createJournal(b.url, 'limits/named');
  const e = await errorOf(await appendTo(b.url, 'limits/named', Buffer.alloc(5000, 1)));
  t.like(e, { status: 413, code: 'PAYLOAD_TOO_LARGE' });
  t.is(e.message, 'the request body exceeds the limit of 4096 bytes (--max-append-size)');
});

/**
 * Starts a broker whose data dir is a 1 MiB tmpfs (in a private mount namespace) that a
 * filler file has made full, keeping `spare` bytes free.
 */
async function brokerOnFullDisk(dataDir: string, spare: number): Promise<{ url: string; stop(): Promise<void> }> {
  const script = `mount -t tmpfs -o size=1m tmpfs "$0" && head -c $((1048576 - $1)) /dev/zero > "$0/filler" 2>/dev/null; exec "${process.execPath}" "${CLI}" serve --port 0 --data-dir "$0" --log-level error`;
  const proc = spawn('unshare', ['--mount', '--map-root-user', 'sh', '-c', script, dataDir, String(spare)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`broker exited (${code}) before listening:\n${err}`)));
  });
  return { url, stop: () => new Promise<void>((resolve) => (proc.once('exit', () => resolve()), proc.kill('SIGKILL'))) };
}

test('creating a journal on a full disk is 507 STORAGE_FULL, leaves no half journal, and the broker keeps serving', async (t) => {
  await withTempDir(async (dataDir) => {
    const full = await brokerOnFullDisk(dataDir, 64 * 1024);
    try {
      await createJournal(full.url, 'disk/first', 'text/plain');
      t.is((await appendTo(full.url, 'disk/first', 'kept', 'text/plain')).status, 204);
      let res: Response;
      // Each journal's record takes a page of the small free space: create until it runs out.
      for (let i = 0; ; i++) {
        res = await createJournal(full.url, `disk/j${i}`, 'text/plain');
        if (res.status !== 201) break;
        if (i > 1000) return t.fail('the disk never filled');
      }
      const e = await errorOf(res);
      t.like(e, { status: 507, code: 'STORAGE_FULL' });
      t.regex(e.message, /creating journal disk\/j\d+: the broker's disk is full \(ENOSPC\)/);
      t.is(res.headers.get('retry-after'), '1');
      const refused = e.message.match(/disk\/j\d+/)![0];
      const listed = (await (await fetch(`${full.url}/v1/journals`)).json()) as { journals: { spec: { name: string } }[] };
      t.false(listed.journals.some((j) => j.spec.name === refused));
      t.is((await readAll(full.url, 'disk/first')).toString(), 'kept');
    } finally {
      await full.stop();
    }
  });
});
