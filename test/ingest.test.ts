import test from 'ava';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrokerClient } from '../src/client/broker-client.js';
import { committedDocs, ingest } from './helpers/collections.js';
import { appendTo, cleanup, createJournal, readAll, ROOT, runCli, startBroker, type TestBroker } from './helpers/broker.js';

const CATALOG = join(ROOT, 'test/fixtures/ingest/orders.flow.yaml');

interface Order {
  id: number;
  region: string;
  rush: boolean;
  shard: number;
  total?: number;
  items?: string[];
  txn?: string;
  _meta: { uuid: string };
}

async function withBroker(t: { teardown(fn: () => Promise<void>): void }): Promise<TestBroker> {
  const b = await startBroker({ args: ['--catalog', CATALOG] });
  t.teardown(() => cleanup(b));
  return b;
}

async function collection(b: TestBroker, partitions?: Record<string, string>): Promise<Order[]> {
  return (await committedDocs<Order>(b, 'acme/orders', partitions)).sort((a, b) => a.id - b.id);
}

test('ingest validates, combines by key, routes to partition journals with labels, and readers see committed documents', async (t) => {
  const b = await withBroker(t);
  const res = await ingest(b, {
    'acme/orders': [
      { id: 1, region: 'eu west', rush: true, shard: 3, total: 10, items: ['a'] },
      { id: 2, region: 'us', rush: false, shard: 0, total: 1 },
      { id: 1, region: 'eu west', rush: true, shard: 3, total: 5, items: ['b'] },
    ],
  });
  t.is(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { journals: Record<string, number>; received: number; stored: number };
  t.is(body.received, 3);
  t.is(body.stored, 2);
  const eu = 'acme/orders/region=eu%20west/rush=true/shard=3/pivot=00';
  const us = 'acme/orders/region=us/rush=false/shard=0/pivot=00';
  t.deepEqual(Object.keys(body.journals).sort(), [eu, us]);

  const journals = await new BrokerClient(b.url).listJournals('inlet.dev/collection=acme/orders');
  const euSpec = journals.find((j) => j.spec.name === eu)!.spec;
  t.deepEqual(euSpec.labels, {
    'inlet.dev/collection': 'acme/orders',
    'inlet.dev/field/region': 'eu%20west',
    'inlet.dev/field/rush': 'true',
    'inlet.dev/field/shard': '3',
  });
  t.is(euSpec.contentType, 'application/x-ndjson');
  t.is(body.journals[eu], journals.find((j) => j.spec.name === eu)!.writeHead);

  // The raw journal holds the fence ACK, the document and the commit ACK; the collection reader yields only the document.
  const raw = (await readAll(b.url, eu)).toString().trim().split('\n').map((l) => JSON.parse(l));
  t.is(raw.length, 3);
  t.true(raw[0]._meta.ack && raw[2]._meta.ack);
  t.is(raw[1].id, 1);
  const docs = await collection(b);
  t.is(docs.length, 2);
  t.like(docs[0], { id: 1, total: 15, items: ['a', 'b'] });
  t.regex(docs[0]!._meta.uuid, /^[0-9a-f-]{36}$/);
  t.deepEqual((await collection(b, { region: 'us' })).map((d) => d.id), [2]);
  t.deepEqual((await collection(b, { region: 'eu west', shard: '3' })).map((d) => d.id), [1]);

  const cols = (await (await fetch(`${b.url}/v1/collections`)).json()) as { collections: { name: string; partitionFields: string[]; journals: string[] }[] };
  t.deepEqual(cols.collections.map((c) => [c.name, c.partitionFields, c.journals.sort()]), [['acme/orders', ['region', 'rush', 'shard'], [eu, us]]]);
});

test('a bad document fails the whole request with 400 naming it, and nothing is written', async (t) => {
  const b = await withBroker(t);
  t.is((await ingest(b, { 'acme/orders': [{ id: 1, region: 'us', rush: false, shard: 0 }] })).status, 200);
  const before = await new BrokerClient(b.url).listJournals();

  const bad = await ingest(b, {
    'acme/orders': [
      { id: 2, region: 'us', rush: false, shard: 0 },
      { id: 3, region: 'mars', rush: true, shard: 9 },
      { id: 4, region: 'us', rush: 'yes', shard: 0 },
    ],
  });
  t.is(bad.status, 400);
  const err = ((await bad.json()) as { error: { code: string; message: string } }).error;
  t.is(err.code, 'INVALID_DOCUMENT');
  t.regex(err.message, /^acme\/orders\[2\]: .*\/rush.*must be boolean/);

  const missingKey = await ingest(b, { 'acme/orders': [{ region: 'us', rush: false, shard: 0 }] });
  t.is(missingKey.status, 400);
  t.regex(((await missingKey.json()) as { error: { message: string } }).error.message, /acme\/orders\[0\]: .*id/);

  const sumOfString = await ingest(b, { 'acme/orders': [{ id: 5, region: 'us', rush: false, shard: 0, total: 1 }, { id: 5, region: 'us', rush: false, shard: 0, total: 2 }, { id: 6, region: 'us', rush: false, shard: 0 }] });
  t.is(sumOfString.status, 200);

  const unknown = await ingest(b, { 'acme/nope': [{}] });
  t.is(unknown.status, 404);
  t.regex(((await unknown.json()) as { error: { message: string } }).error.message, /acme\/nope.*acme\/orders/);
  t.is((await ingest(b, '{"acme/orders": [')).status, 400);
  t.is((await ingest(b, { 'acme/orders': {} })).status, 400);
  t.is((await ingest(b, { 'acme/orders': [] })).status, 400);

  // The failed requests created no journal and appended nothing: only id 1's journal changed, by the valid request.
  const after = await new BrokerClient(b.url).listJournals();
  t.deepEqual(after.map((j) => j.spec.name).sort(), before.map((j) => j.spec.name).sort());
  t.deepEqual((await collection(b)).map((d) => d.id), [1, 5, 6]);
  t.like((await collection(b))[1], { total: 3 });
});

test('a producer retrying its last request is answered without writing; readers drop re-appended duplicates', async (t) => {
  const b = await withBroker(t);
  const docs = { 'acme/orders': [{ id: 1, region: 'us', rush: false, shard: 0, items: ['x'] }, { id: 2, region: 'eu', rush: false, shard: 0 }] };
  const first = await ingest(b, docs, { 'producer-id': 'client-7', 'producer-seq': '1' });
  t.is(first.status, 200);
  const firstBody = (await first.json()) as { journals: Record<string, number> };
  const retry = await ingest(b, docs, { 'producer-id': 'client-7', 'producer-seq': '1' });
  t.is(retry.status, 200);
  const retryBody = (await retry.json()) as { journals: Record<string, number>; duplicate: boolean };
  t.true(retryBody.duplicate);
  t.deepEqual(retryBody.journals, firstBody.journals);
  const stale = await ingest(b, docs, { 'producer-id': 'client-7', 'producer-seq': '0' });
  t.is(stale.status, 409);
  t.is((await ingest(b, docs, { 'producer-id': 'client-7', 'producer-seq': 'x' })).status, 400);
  t.deepEqual((await collection(b)).map((d) => d.id), [1, 2]);

  // A producer that re-appends a whole committed transaction (its documents and ACK): the
  // documents carry the same UUIDs, so readers drop them.
  const us = 'acme/orders/region=us/rush=false/shard=0/pivot=00';
  const bytes = await readAll(b.url, us);
  t.is((await appendTo(b.url, us, bytes, 'application/x-ndjson')).status, 204);
  t.is((await readAll(b.url, us)).length, bytes.length * 2);
  const docsAfter = await collection(b);
  t.deepEqual(docsAfter.map((d) => d.id), [1, 2]);
  t.deepEqual(docsAfter[0]!.items, ['x']);
});

test('inlet ingest and inlet read --collection --partition', async (t) => {
  const b = await withBroker(t);
  const lines = Array.from({ length: 2500 }, (_, i) => JSON.stringify({ id: i % 2000, region: i % 2 ? 'us' : 'eu', rush: false, shard: 1, total: 1 })).join('\n');
  const ing = await runCli(['ingest', 'acme/orders', '--broker', b.url, '--batch', '1000'], { input: lines + '\n' });
  t.is(ing.code, 0, ing.stderr);
  t.regex(ing.stderr, /ingested 2500 documents \(\d+ after combining by key\) in 3 transactions into 2 journals/);

  const all = await runCli(['read', '--collection', 'acme/orders', '--broker', b.url]);
  t.is(all.code, 0, all.stderr);
  const docs = all.stdout.trim().split('\n').map((l) => JSON.parse(l) as Order);
  // Within a transaction equal keys combine; across transactions each is its own document.
  t.is(docs.filter((d) => d.id < 500).reduce((n, d) => n + d.total!, 0), 1000);
  t.is(docs.reduce((n, d) => n + d.total!, 0), 2500);

  const eu = await runCli(['read', '--collection', 'acme/orders', '--partition', 'region=eu', '--broker', b.url]);
  t.is(eu.code, 0, eu.stderr);
  t.true(eu.stdout.trim().split('\n').every((l) => (JSON.parse(l) as Order).region === 'eu'));

  const bad = await runCli(['ingest', 'acme/orders', '--broker', b.url], { input: '{"id": 1, "region": "us", "rush": false, "shard": 0}\n\n{"id": 2}\n' });
  t.is(bad.code, 1);
  t.regex(bad.stderr, /line 3: acme\/orders\[1\]: /);
  t.is((await runCli(['read', '--partition', 'region=eu', '--broker', b.url])).code, 2);
});

test("journals made before the catalog join their collection: labels at first ingest, fragment settings at start", async (t) => {
  const first = await startBroker({ args: ['--compression', 'zstd'] });
  const name = 'shipments/carrier=UPS/pivot=00';
  t.is((await createJournal(first.url, name, 'application/x-ndjson')).status, 201);
  await first.stop();
  const b = await startBroker({ dataDir: first.dataDir, args: ['--catalog', join(ROOT, 'catalog/shipments.flow.yaml')] });
  t.teardown(() => cleanup(b));
  const client = new BrokerClient(b.url);
  const spec = async () => (await client.listJournals()).find((j) => j.spec.name === name)!.spec;
  t.like((await spec()).fragment, { codec: 'zstd', length: 128 * 1024 * 1024 });
  const doc = { id: 'shp_1', vendor: { name: 'UPS' }, status: 'label_created', ts: '2026-11-21T10:00:00Z' };
  t.is((await ingest(b, { shipments: [doc] })).status, 200);
  t.is((await spec()).labels['inlet.dev/collection'], 'shipments');
  t.like((await spec()).fragment, { codec: 'gzip', length: 64 * 1024 * 1024 });
  // A restart with a changed catalog applies its settings to the collection's journals.
  await b.stop();
  const dir = await mkdtemp(join(tmpdir(), 'inlet-catalog-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(join(ROOT, 'catalog/shipments.schema.yaml'), join(dir, 'shipments.schema.yaml'));
  const changed = (await readFile(join(ROOT, 'catalog/shipments.flow.yaml'), 'utf8')).replace('codec: gzip', 'codec: zstd');
  await writeFile(join(dir, 'shipments.flow.yaml'), changed);
  const again = await startBroker({ dataDir: first.dataDir, args: ['--catalog', join(dir, 'shipments.flow.yaml')] });
  t.teardown(() => cleanup(again));
  t.like((await new BrokerClient(again.url).listJournals())[0]!.spec.fragment, { codec: 'zstd', length: 64 * 1024 * 1024 });
  t.is((await committedDocs(again, 'shipments')).length, 1);
});

test('a closed partition journal refuses its documents without blocking other partitions', async (t) => {
  const b = await withBroker(t);
  const us = { id: 1, region: 'us', rush: false, shard: 0 };
  const eu = { id: 2, region: 'eu', rush: false, shard: 0 };
  t.is((await ingest(b, { 'acme/orders': [us] })).status, 200);
  const close = await appendTo(b.url, 'acme/orders/region=us/rush=false/shard=0/pivot=00', '', 'application/x-ndjson', { 'stream-closed': 'true' });
  t.true(close.ok, String(close.status));
  const refused = await ingest(b, { 'acme/orders': [{ ...us, id: 3 }, eu] });
  t.is(refused.status, 409);
  t.regex(((await refused.json()) as { error: { message: string } }).error.message, /region=us/);
  t.is((await ingest(b, { 'acme/orders': [eu] })).status, 200);
  t.deepEqual((await collection(b)).map((d) => d.id), [1, 2]);
});

test('inlet ingest refuses to resume a producer of an earlier run over other input rather than report documents it did not write', async (t) => {
  const b = await withBroker(t);
  const doc = (id: number) => JSON.stringify({ id, region: 'us', rush: false, shard: 0 }) + '\n';
  t.is((await runCli(['ingest', 'acme/orders', '--broker', b.url, '--producer', 'loader'], { input: doc(1) })).code, 0);
  const again = await runCli(['ingest', 'acme/orders', '--broker', b.url, '--producer', 'loader'], { input: doc(2) + doc(3) });
  t.is(again.code, 1);
  t.regex(again.stderr, /producer loader committed transaction 1 in an earlier run with 1 documents, this input's has 2/);
  t.deepEqual((await collection(b)).map((d) => d.id), [1]);
});

test('requests without a producer share a few broker producers, so readers track few', async (t) => {
  const b = await withBroker(t);
  await Promise.all(
    Array.from({ length: 60 }, (_, i) => ingest(b, { 'acme/orders': [{ id: i, region: 'us', rush: false, shard: 0 }] }).then((r) => t.is(r.status, 200))),
  );
  const raw = (await readAll(b.url, 'acme/orders/region=us/rush=false/shard=0/pivot=00')).toString().trim().split('\n');
  const producers = new Set(raw.map((l) => (JSON.parse(l) as Order)._meta.uuid.slice(-12)));
  t.true(producers.size <= 16, `${producers.size} producers`);
  t.deepEqual((await collection(b)).map((d) => d.id), Array.from({ length: 60 }, (_, i) => i));
});
