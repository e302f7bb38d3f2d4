import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { loadCatalog } from '../src/catalog/load.js';
import { Appender } from '../src/client/appender.js';
import { BrokerClient } from '../src/client/broker-client.js';
import { compileCatalog } from '../src/collections/collection.js';
import { Publisher, writeAcks } from '../src/collections/publisher.js';
import { Router } from '../src/collections/route.js';
import { randomProducer } from '../src/collections/uuid.js';
import { runConsumer } from '../src/consumer/driver.js';
import { FileStore } from '../src/consumer/file-store.js';
import { committedDocs, ingest } from './helpers/collections.js';
import { cleanup, ROOT, startBroker, tempDir, type TestBroker } from './helpers/broker.js';

const CATALOG = join(ROOT, 'test/fixtures/consumer/counts.flow.yaml');
const APP = join(ROOT, 'test/helpers/count-consumer.ts');
const KEYS = ['a', 'b', 'c', 'd', 'e'];

/** Runs the counting consumer to its end (or its crash); resolves with its exit code or signal. */
function runApp(b: TestBroker, store: string, env: NodeJS.ProcessEnv = {}): Promise<{ exit: number | string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', APP, b.url, store, CATALOG], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('exit', (code, sig) => resolve({ exit: code ?? sig ?? -1, stderr }));
  });
}

/** Ingests `count` events in requests of 50, keys round-robin over KEYS, spread over 3 partitions. */
async function ingestEvents(b: TestBroker, first: number, count: number): Promise<void> {
  for (let at = first; at < first + count; at += 50) {
    const docs = Array.from({ length: Math.min(50, first + count - at) }, (_, i) => ({ id: at + i, key: KEYS[(at + i) % KEYS.length]!, shard: (at + i) % 3 }));
    const res = await ingest(b, { 'acme/events': docs });
    if (res.status !== 200) throw new Error(`ingest: ${res.status} ${await res.text()}`);
  }
}

/** The output is the input's count per key, exactly once: deltas sum to it, and the totals step through it without a repeat or a gap. */
async function assertExactlyOnce(t: ExecutionContext, b: TestBroker, store: string, inputs: number): Promise<void> {
  const expected: Record<string, number> = {};
  for (let id = 0; id < inputs; id++) expected[KEYS[id % KEYS.length]!] = (expected[KEYS[id % KEYS.length]!] ?? 0) + 1;
  const out = await committedDocs<{ key: string; delta: number; through: number }>(b, 'acme/counts');
  for (const key of KEYS) {
    const mine = out.filter((d) => d.key === key).sort((x, y) => x.through - y.through);
    let total = 0;
    for (const d of mine) {
      t.is(d.through, total + d.delta, `key ${key}: the total after ${total} moves by its delta ${d.delta}`);
      total = d.through;
    }
    t.is(total, expected[key], `key ${key}: every input counted once`);
  }
  const saved = JSON.parse(await readFile(store, 'utf8')) as { state: Record<string, number> };
  t.deepEqual(saved.state, expected);
}

test.serial('a consumer run to the end counts and publishes every input once, and a second run adds only what is new', async (t) => {
  const b = await startBroker({ args: ['--catalog', CATALOG] });
  t.teardown(() => cleanup(b));
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = join(dir, 'store.json');
  await ingestEvents(b, 0, 200);
  t.is((await runApp(b, store)).exit, 0);
  await assertExactlyOnce(t, b, store, 200);
  await ingestEvents(b, 200, 100);
  t.is((await runApp(b, store)).exit, 0);
  await assertExactlyOnce(t, b, store, 300);
});

test.serial('a following consumer commits each time its input stalls, and stops when aborted', async (t) => {
  const b = await startBroker({ args: ['--catalog', CATALOG] });
  t.teardown(() => cleanup(b));
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'store.json');
  const store = await FileStore.open<Record<string, number>>(path, {});
  const client = new BrokerClient(b.url);
  const abort = new AbortController();
  const running = runConsumer<{ key: string }>({
    name: 'follower',
    client,
    writer: new Appender(client),
    collections: compileCatalog(await loadCatalog(CATALOG)),
    sources: ['acme/events'],
    store,
    stallMs: 20,
    maxTxnMs: 60_000, // only a stall ends a transaction here
    signal: abort.signal,
    app: {
      consume: (d) => void (store.state[d.doc.key] = (store.state[d.doc.key] ?? 0) + 1),
      finalize: (txn) => {
        for (const [key, through] of Object.entries(store.state)) if (through !== published[key]) txn.publish('acme/counts', { key, through, delta: through - (published[key] ?? 0) });
        Object.assign(published, store.state);
      },
    },
  });
  const published: Record<string, number> = {};
  const committedCount = async () => {
    try {
      return Object.values((JSON.parse(await readFile(path, 'utf8')) as { state: Record<string, number> }).state).reduce((a, n) => a + n, 0);
    } catch {
      return 0;
    }
  };
  for (const [first, count] of [[0, 50], [50, 50]] as const) {
    await ingestEvents(b, first, count);
    while ((await committedCount()) < first + count) await new Promise((r) => setTimeout(r, 20));
  }
  abort.abort();
  await running;
  await assertExactlyOnce(t, b, path, 100);
});

test.serial('the stall rule: lines of an open transaction arriving (its ACK still to come) keep the consumer transaction open; it closes only once no line came for stallMs', async (t) => {
  const b = await startBroker({ args: ['--catalog', CATALOG] });
  t.teardown(() => cleanup(b));
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = await FileStore.open<Record<string, number>>(join(dir, 'store.json'), {});
  const client = new BrokerClient(b.url);
  const collections = compileCatalog(await loadCatalog(CATALOG));
  await ingestEvents(b, 0, 1);
  // Another producer writes one transaction a line at a time, each line well within stallMs of
  // the last, for several times stallMs in all: input keeps arriving, though none of it commits
  // before its ACK, which comes last.
  const STALL_MS = 300;
  const LINES = 40;
  const GAP_MS = 20;
  const transactions: number[][] = [];
  let ids: number[] = [];
  const abort = new AbortController();
  const running = runConsumer<{ id: number }>({
    name: 'stalls',
    client,
    writer: new Appender(client),
    collections,
    sources: ['acme/events'],
    store,
    stallMs: STALL_MS,
    maxTxnMs: 60_000, // only a stall ends a transaction here
    signal: abort.signal,
    app: {
      consume: (d) => void ids.push(d.doc.id),
      finalize: () => {
        transactions.push(ids);
        ids = [];
        if (transactions.flat().length === LINES + 1) abort.abort();
      },
    },
  });
  const producer = new Publisher(new Appender(client), randomProducer());
  const started = Date.now();
  for (let i = 1; i <= LINES; i++) {
    const router = new Router(collections);
    router.add('acme/events', { id: i, key: 'a', shard: 0 }, 0);
    await producer.publish(router.drain());
    await new Promise((r) => setTimeout(r, GAP_MS));
  }
  const took = Date.now() - started;
  await writeAcks(new Appender(client), producer.commit());
  await running;
  t.true(took > 2 * STALL_MS, `the open transaction was written over ${took} ms, more than the stall of ${STALL_MS} ms (else this proves nothing)`);
  // One consumer transaction: the committed document and, once their ACK came, all the lines that kept it open.
  t.deepEqual(transactions, [Array.from({ length: LINES + 1 }, (_, i) => i)]);
});

for (const point of ['consumer.read:120', 'consumer.append:2', 'consumer.commit:2', 'consumer.committed:2', 'consumer.ack:3']) {
  test.serial(`SIGKILL at ${point}: the restarted consumer's output is exactly once`, async (t) => {
    const b = await startBroker({ args: ['--catalog', CATALOG] });
    t.teardown(() => cleanup(b));
    const dir = await tempDir();
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const store = join(dir, 'store.json');
    await ingestEvents(b, 0, 300);
    const crashed = await runApp(b, store, { INLET_CRASH_AT: point });
    t.is(crashed.exit, 'SIGKILL', `the consumer should have killed itself at ${point}: ${crashed.stderr}`);
    const again = await runApp(b, store);
    t.is(again.exit, 0, again.stderr);
    await assertExactlyOnce(t, b, store, 300);
  });
}
