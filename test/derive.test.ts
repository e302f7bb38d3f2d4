import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { loadCatalog } from '../src/catalog/load.js';
import type { Catalog } from '../src/catalog/types.js';
import { Appender } from '../src/client/appender.js';
import { BrokerClient } from '../src/client/broker-client.js';
import { DerivationRuntime } from '../src/derive/runtime.js';
import { committedDocs, ingest } from './helpers/collections.js';
import { appendTo, cleanup, readAll, ROOT, runCli, startBroker, tempDir, type TestBroker } from './helpers/broker.js';
import { buildUuid, ClockSource, OUTSIDE_TXN, randomProducer } from '../src/collections/uuid.js';
import { InletError } from '../src/errors.js';

const FIXTURES = join(ROOT, 'test/fixtures/derive');
const TOTALS = join(FIXTURES, 'totals.flow.yaml');
const TOTALS_MODULE = join(FIXTURES, 'totals.mjs');
/** The brokers of these tests serve the sources only: the tests run the derivations. */
const EVENTS = join(FIXTURES, 'events.flow.yaml');
const KEYS = ['a', 'b', 'c', 'd', 'e'];

interface Total {
  key: string;
  count: number;
  total: number;
}

async function ingestEvents(b: TestBroker, first: number, count: number, n: (id: number) => number = (id) => id): Promise<void> {
  for (let at = first; at < first + count; at += 100) {
    const docs = Array.from({ length: Math.min(100, first + count - at) }, (_, i) => ({ id: at + i, key: KEYS[(at + i) % KEYS.length]!, n: n(at + i), shard: (at + i) % 3 }));
    const res = await ingest(b, { 'acme/events': docs });
    if (res.status !== 200) throw new Error(`ingest: ${res.status} ${await res.text()}`);
  }
}

function expectedTotals(count: number): Record<string, { count: number; total: number }> {
  const out: Record<string, { count: number; total: number }> = {};
  for (let id = 0; id < count; id++) {
    const k = KEYS[id % KEYS.length]!;
    out[k] = { count: (out[k]?.count ?? 0) + 1, total: (out[k]?.total ?? 0) + id };
  }
  return out;
}

/** Every committed totals document steps its key's count up; the last one per key equals the input's reduction. */
async function assertTotals(t: ExecutionContext, b: TestBroker, inputs: number): Promise<void> {
  const out = await committedDocs<Total>(b, 'acme/totals');
  const last: Record<string, { count: number; total: number }> = {};
  for (const d of out) {
    const prior = last[d.key]?.count ?? 0;
    t.true(d.count > prior, `key ${d.key}: count ${d.count} after ${prior} (no repeat)`);
    last[d.key] = { count: d.count, total: d.total };
  }
  t.deepEqual(last, expectedTotals(inputs));
}

async function setup(t: ExecutionContext, catalogPath = TOTALS): Promise<{ b: TestBroker; catalog: Catalog; client: BrokerClient; dir: string }> {
  const b = await startBroker({ args: ['--catalog', EVENTS] });
  t.teardown(() => cleanup(b));
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return { b, catalog: await loadCatalog(catalogPath), client: new BrokerClient(b.url), dir };
}

test.serial('a derivation backfills its source, follows live appends, and settles; a restart adds only what is new', async (t) => {
  const { b, catalog, client, dir } = await setup(t);
  await ingestEvents(b, 0, 500);
  let rt = await DerivationRuntime.start({ catalog, client, writer: new Appender(client), module: TOTALS_MODULE, dataDir: dir, batchSize: 64 });
  await rt.settled();
  await assertTotals(t, b, 500);
  await ingestEvents(b, 500, 300);
  await rt.settled();
  await assertTotals(t, b, 800);
  const [status] = await rt.refreshStatus();
  t.like(status, { name: 'acme/totals', state: 'live', read: 800, published: 800 });
  t.is(status!.sources['acme/events']!.lagBytes, 0);
  await rt.stop();

  await ingestEvents(b, 800, 100);
  rt = await DerivationRuntime.start({ catalog, client, writer: new Appender(client), module: TOTALS_MODULE, dataDir: dir });
  await rt.settled();
  t.like(rt.status()[0], { read: 100 });
  await rt.stop();
  await assertTotals(t, b, 900);
});

const JOINED = join(FIXTURES, 'joined.flow.yaml');
const JOINED_MODULE = join(FIXTURES, 'joined.mjs');

test.serial('two transforms over two sources share one register per shuffle key', async (t) => {
  const { b, catalog, client, dir } = await setup(t, JOINED);
  await ingestEvents(b, 0, 50);
  const rt = await DerivationRuntime.start({ catalog, client, writer: new Appender(client), module: JOINED_MODULE, dataDir: dir, batchSize: 7 });
  t.teardown(() => rt.stop());
  await rt.settled();
  t.is((await ingest(b, { 'acme/users': KEYS.slice(0, 3).map((name) => ({ name, fullName: `User ${name.toUpperCase()}` })) })).status, 200);
  await ingestEvents(b, 50, 50);
  await rt.settled();
  const out = await committedDocs<{ key: string; events: number; fullName: string | null }>(b, 'acme/joined');
  const last: Record<string, unknown> = {};
  for (const d of out) last[d.key] = { events: d.events, fullName: d.fullName };
  t.deepEqual(last, {
    a: { events: 20, fullName: 'User A' },
    b: { events: 20, fullName: 'User B' },
    c: { events: 20, fullName: 'User C' },
    d: { events: 20, fullName: null },
    e: { events: 20, fullName: null },
  });
  await assertTotals(t, b, 100);
});

for (const [n, why, opts] of [
  [-1, /fromEventsUpdate: negative one is refused\n.*Error: negative one is refused/s, {}],
  [-2, /fromEventsUpdate ran past its timeout of 300 ms/, { lambdaTimeoutMs: 300 }],
  [-3, /a register update is invalid: .*count/, {}],
] as const) {
  test.serial(`a failing lambda (n=${n}) fails its derivation naming transform, journal and offset; the others run on, and a restart resumes`, async (t) => {
    const { b, catalog, client, dir } = await setup(t, JOINED);
    const start = () => DerivationRuntime.start({ catalog, client, writer: new Appender(client), module: JOINED_MODULE, dataDir: dir, batchSize: 10, ...opts });
    const rt = await start();
    await ingestEvents(b, 0, 50);
    await rt.settled();
    await ingestEvents(b, 50, 50, (id) => (id === 72 ? n : id));
    const err = await t.throwsAsync(rt.settled());
    // The document the lambda failed on, by its offset: not one of the calls queued behind it.
    const lines = (await readAll(b.url, 'acme/events/shard=0/pivot=00')).toString('utf8');
    const at = Buffer.byteLength(lines.slice(0, lines.indexOf('{"id":72,')));
    t.regex(err!.message, new RegExp(`^derivation acme/totals, transform fromEvents \\(.*totals\\.flow\\.yaml:\\d+\\), document acme/events/shard=0/pivot=00@${at}: `));
    t.regex(err!.message, why);
    await rt.settled(['acme/joined']);
    const [joined, totals] = rt.status();
    t.like(totals, { name: 'acme/totals', state: 'failed' });
    t.regex(totals!.lastError!, why);
    t.like(joined, { name: 'acme/joined', read: 100, published: 100 });
    // Committed transactions only: the first 50 at least, never the failed document's.
    t.true(totals!.read >= 50 && totals!.read < 100, `read ${totals!.read}`);
    t.is(totals!.published, totals!.read);
    await rt.stop();

    process.env.TOTALS_FORGIVE = '1';
    t.teardown(() => delete process.env.TOTALS_FORGIVE);
    const again = await start();
    await again.settled();
    // Resumed after its last commit: what it reads again plus what was committed is the input, once.
    t.like(again.status()[1], { name: 'acme/totals', read: 100 - totals!.read });
    await again.stop();
    const out = await committedDocs<Total>(b, 'acme/totals');
    const last: Record<string, Total> = {};
    for (const d of out) last[d.key] = d;
    t.is(last.a!.count, 20);
    t.is(last.c!.total, expectedTotals(100).c!.total - 72 + n);
  });
}

test.serial('a lambda that runs past its timeout during a backfill fails its derivation naming its own document, not the calls queued behind it', async (t) => {
  const { b, catalog, client, dir } = await setup(t);
  // Read in one go at the start: update calls of later batches are queued ahead of earlier batches' publish calls.
  await ingestEvents(b, 0, 300, (id) => (id === 25 ? -2 : id));
  const rt = await DerivationRuntime.start({ catalog, client, writer: new Appender(client), module: TOTALS_MODULE, dataDir: dir, batchSize: 10, lambdaTimeoutMs: 300 });
  t.teardown(() => rt.stop());
  const err = await t.throwsAsync(rt.settled());
  const journal = `acme/events/shard=${25 % 3}/pivot=00`;
  const lines = (await readAll(b.url, journal)).toString('utf8');
  const at = Buffer.byteLength(lines.slice(0, lines.indexOf('{"id":25,')));
  t.true(err!.message.startsWith(`derivation acme/totals, transform fromEvents (`), err!.message);
  t.regex(err!.message, new RegExp(`document ${journal}@${at}: fromEventsUpdate: fromEventsUpdate ran past its timeout of 300 ms`));
});

test.serial('inlet serve --catalog runs the catalog\'s derivations; GET /v1/derivations, inlet derivations status and /metrics show them', async (t) => {
  const b = await startBroker({ args: ['--catalog', TOTALS] });
  t.teardown(() => cleanup(b));
  await ingestEvents(b, 0, 200);
  // Polls the status the broker serves until the derivation has published every input.
  type Listed = { derivations: { name: string; state: string; read: number; published: number; sources: Record<string, { lagBytes: number }> }[] };
  let listed: Listed;
  for (let i = 0; ; i++) {
    listed = (await (await fetch(`${b.url}/v1/derivations`)).json()) as Listed;
    if (listed.derivations[0]?.published === 200 && listed.derivations[0].sources['acme/events']!.lagBytes === 0) break;
    if (i > 500) t.fail(`not settled: ${JSON.stringify(listed)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  t.like(listed.derivations[0], { name: 'acme/totals', read: 200, published: 200 });
  await assertTotals(t, b, 200);
  const cli = await runCli(['derivations', 'status', '--broker', b.url]);
  t.is(cli.code, 0, cli.stderr);
  t.regex(cli.stdout, /^acme\/totals {2}(live|backfilling) {2}read 200 {2}published 200 {2}acme\/events: 0 B, 0\.0 s behind$/m);
  const metrics = await (await fetch(`${b.url}/metrics`)).text();
  t.regex(metrics, /inlet_derivation_documents_published\{derivation="acme\/totals"\} 200/);
  t.regex(metrics, /inlet_derivation_lag_bytes\{derivation="acme\/totals",source="acme\/events"\} 0/);
});

test.serial('under inlet serve, a derivation reads its sources\' history straight from the lake: the broker reads none of it out of fragments', async (t) => {
  const first = await startBroker({ args: ['--catalog', EVENTS] });
  t.teardown(() => cleanup(first));
  await ingestEvents(first, 0, 300);
  // All of it in fragments in the store, none left on the broker's disk.
  await new BrokerClient(first.url).flushFragments({ selector: 'inlet.dev/collection=acme/events' });
  await first.stop();
  const b = await startBroker({ dataDir: first.dataDir, args: ['--catalog', TOTALS] });
  t.teardown(() => cleanup(b));
  const historyRead = async () => Number(/^inlet_history_read_bytes_total (\d+)$/m.exec(await (await fetch(`${b.url}/metrics`)).text())?.[1]);
  for (let i = 0; ; i++) {
    const listed = (await (await fetch(`${b.url}/v1/derivations`)).json()) as { derivations: { published: number }[] };
    if (listed.derivations[0]?.published === 300) break;
    if (i > 500) t.fail(`not settled: ${JSON.stringify(listed)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await assertTotals(t, b, 300);
  t.is(await historyRead(), 0);
  // The counter counts: a reader not given the store reads the same history through the broker.
  const [journal] = await new BrokerClient(b.url).listJournals('inlet.dev/collection=acme/events');
  const res = await fetch(`${b.url}/v1/stream/${journal!.spec.name}?offset=0`);
  const body = await res.arrayBuffer();
  t.true(body.byteLength > 0);
  t.is(await historyRead(), body.byteLength);
});

test.serial('a remote lambda gets batches of documents as JSON over HTTP, from a real local server', async (t) => {
  const batches: number[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const calls = JSON.parse(body) as [{ id: number; key: string; n: number }, unknown, unknown][];
      batches.push(calls.length);
      t.true(calls.every((c) => c.length === 3 && c[1] === null && c[2] === null), 'publish gets source, register and previous (null: no update lambda)');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(calls.map(([s]) => (s.n % 10 === 0 ? [] : [{ id: s.id, key: s.key, double: s.n * 2 }]))));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => server.close());
  const { b, client, dir } = await setup(t);
  const catalogPath = join(dir, 'echo.flow.yaml');
  await writeFile(
    catalogPath,
    [
      `import: [${JSON.stringify(EVENTS)}]`,
      'collections:',
      '  acme/doubled:',
      '    key: [/id]',
      '    schema: { type: object, required: [id, key, double], properties: { id: { type: integer }, key: { type: string }, double: { type: integer } } }',
      '    derivation:',
      '      transform:',
      '        fromEvents:',
      '          source: { name: acme/events }',
      `          publish: { lambda: { remote: "http://127.0.0.1:${(server.address() as AddressInfo).port}/publish" } }`,
    ].join('\n'),
  );
  const catalog = await loadCatalog(catalogPath);
  await ingestEvents(b, 0, 300);
  const rt = await DerivationRuntime.start({ catalog, client, writer: new Appender(client), dataDir: join(dir, 'rt'), batchSize: 100 });
  t.teardown(() => rt.stop());
  await rt.settled();
  const out = await committedDocs<{ id: number; double: number }>(b, 'acme/doubled');
  t.is(out.length, 270);
  t.true(out.every((d) => d.double === d.id * 2 && d.id % 10 !== 0));
  t.true(batches.length <= 6 && batches.every((n) => n <= 100), `batches: ${batches.join(', ')}`);
  t.is(batches.reduce((a, n) => a + n, 0), 300);
});

test.serial('a second process running the same derivation fences the first: one of them fails its commit, and the output stays exactly once', async (t) => {
  const { b, catalog, client, dir } = await setup(t);
  await ingestEvents(b, 0, 100);
  const start = (sub: string) => DerivationRuntime.start({ catalog, client, writer: new Appender(client), module: TOTALS_MODULE, dataDir: join(dir, sub) });
  const first = await start('one');
  t.teardown(() => first.stop());
  await first.settled();
  // The second recovers the registers from the recovery log, then both read the same new input.
  const second = await start('two');
  t.teardown(() => second.stop());
  await second.settled();
  await ingestEvents(b, 100, 100);
  const results = await Promise.allSettled([first.settled(), second.settled()]);
  const failed = results.filter((r) => r.status === 'rejected');
  t.is(failed.length, 1, JSON.stringify(results));
  t.regex(String(failed[0]!.reason), /offset/i);
  await assertTotals(t, b, 200);
});

test.serial('a transform reads the partitions its source selects: several values included, others excluded', async (t) => {
  const { b, client, dir } = await setup(t);
  await ingestEvents(b, 0, 90);
  const catalogPath = join(dir, 'kept.flow.yaml');
  const schema = '{ type: object, required: [id, shard], properties: { id: { type: integer }, shard: { type: integer }, via: { type: string } } }';
  await writeFile(
    catalogPath,
    [
      `import: [${JSON.stringify(EVENTS)}]`,
      'collections:',
      ...[
        ['acme/included', '{ include: { shard: [0, 2] } }'],
        ['acme/excluded', '{ exclude: { shard: [0] } }'],
      ].flatMap(([name, partitions]) => [
        `  ${name}:`,
        '    key: [/id]',
        `    schema: ${schema}`,
        '    derivation:',
        '      transform:',
        '        fromEvents:',
        `          source: { name: acme/events, partitions: ${partitions} }`,
        '          publish: { lambda: typescript }',
      ]),
    ].join('\n'),
  );
  const module = join(dir, 'kept.mjs');
  const publish = 'fromEventsPublish(s) { return [{ id: s.id, shard: s.shard }]; }';
  await writeFile(module, `export class AcmeIncluded { ${publish} }\nexport class AcmeExcluded { ${publish} }\n`);
  const rt = await DerivationRuntime.start({ catalog: await loadCatalog(catalogPath), client, writer: new Appender(client), module, dataDir: join(dir, 'rt') });
  t.teardown(() => rt.stop());
  await rt.settled();
  const shards = async (name: string) => [...new Set((await committedDocs<{ shard: number }>(b, name)).map((d) => d.shard))].sort();
  t.deepEqual(await shards('acme/included'), [0, 2]);
  t.deepEqual(await shards('acme/excluded'), [1, 2]);
  t.is((await committedDocs(b, 'acme/included')).length, 60);
});

/** A catalog of one publish-only derivation of acme/events, `name`, with `schema`, and its module. */
async function publishOnly(dir: string, name: string, schema: string, publish: string): Promise<{ catalog: Catalog; module: string }> {
  const catalogPath = join(dir, 'one.flow.yaml');
  await writeFile(
    catalogPath,
    [
      `import: [${JSON.stringify(EVENTS)}]`,
      'collections:',
      `  ${name}:`,
      '    key: [/key]',
      `    schema: ${schema}`,
      '    derivation:',
      '      transform:',
      '        fromEvents:',
      '          source: { name: acme/events }',
      '          publish: { lambda: typescript }',
    ].join('\n'),
  );
  const module = join(dir, 'one.mjs');
  await writeFile(module, `export class ${name.split('/').map((p) => p[0]!.toUpperCase() + p.slice(1)).join('')} { fromEventsPublish(s) { ${publish} } }\n`);
  return { catalog: await loadCatalog(catalogPath), module };
}

test.serial('documents a publish lambda returns combine by key once each, even when it returns its source document twice', async (t) => {
  const { b, client, dir } = await setup(t);
  await ingestEvents(b, 0, 200);
  const schema = '{ type: object, required: [key, n], reduce: { strategy: merge }, properties: { key: { type: string }, n: { type: integer, reduce: { strategy: sum } } } }';
  // The source itself, a document of the same key, and the source again: 2n + 1000 per source.
  const { catalog, module } = await publishOnly(dir, 'acme/sums', schema, 'return [s, { key: s.key, n: 1000 }, s];');
  const rt = await DerivationRuntime.start({ catalog, client, writer: new Appender(client), module, dataDir: join(dir, 'rt'), batchSize: 16 });
  t.teardown(() => rt.stop());
  await rt.settled();
  const sums: Record<string, number> = {};
  for (const d of await committedDocs<{ key: string; n: number }>(b, 'acme/sums')) sums[d.key] = (sums[d.key] ?? 0) + d.n;
  const want: Record<string, number> = {};
  for (let id = 0; id < 200; id++) want[KEYS[id % KEYS.length]!] = (want[KEYS[id % KEYS.length]!] ?? 0) + 2 * id + 1000;
  t.deepEqual(sums, want);
});

test.serial('a source line that is not JSON fails its derivation as a reader would: INVALID_CONTENT naming journal and offset', async (t) => {
  const { b, client, dir } = await setup(t);
  await ingestEvents(b, 0, 30);
  const journal = 'acme/events/shard=0/pivot=00';
  const head = (await client.head(journal)).writeHead;
  // Broken early, yet ending as inlet writes documents: the uuid at its end reads without parsing it.
  const uuid = buildUuid(randomProducer(), new ClockSource().next(), OUTSIDE_TXN);
  t.is((await appendTo(b.url, journal, `{"id":999,"key":"a","n":1,"shard":0,,"_meta":{"uuid":"${uuid}"}}\n`, 'application/x-ndjson')).status, 204);
  const { catalog, module } = await publishOnly(dir, 'acme/copied', '{ type: object, required: [key] }', 'return [s];');
  const rt = await DerivationRuntime.start({ catalog, client, writer: new Appender(client), module, dataDir: join(dir, 'rt') });
  t.teardown(() => rt.stop());
  const err = await t.throwsAsync(rt.settled());
  t.true(err instanceof InletError && err.code === 'INVALID_CONTENT', String(err));
  t.true(err!.message.startsWith(`journal ${journal}: the line at offset ${head} is not JSON`), err!.message);
});
