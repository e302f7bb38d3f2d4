import test from 'ava';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BrokerClient } from '../src/client/broker-client.js';
import { committedDocs, ingest } from './helpers/collections.js';
import { readAll, ROOT, startBroker, tempDir, type TestBroker } from './helpers/broker.js';

const CATALOG = join(ROOT, 'test/fixtures/ingest/orders.flow.yaml');

interface Order {
  id: number;
  txn: string;
}

/** One transaction's documents, spread over `partitions` journals (by shard). */
function txnDocs(txn: string, first: number, count: number, partitions = 4): Record<string, unknown[]> {
  return {
    'acme/orders': Array.from({ length: count }, (_, i) => ({ id: first + i, region: 'r', rush: false, shard: i % partitions, txn, items: [`${txn}:${i}`] })),
  };
}

const committed = (b: TestBroker): Promise<Order[]> => committedDocs<Order>(b, 'acme/orders');

/** Runs one request against a broker armed to SIGKILL itself at `point`; returns once it is dead. */
async function crashDuring(dataDir: string, point: string, body: unknown, headers: Record<string, string> = {}): Promise<void> {
  const b = await startBroker({ dataDir, args: ['--catalog', CATALOG], env: { INLET_CRASH_AT: point } });
  const res = await ingest(b, body, headers).then(
    (r) => r.status,
    () => 'connection lost',
  );
  const exit = await b.stop('SIGTERM');
  if (exit !== 'SIGKILL') throw new Error(`expected the broker to kill itself at ${point}; request got ${res}, exit ${exit}\n${b.logs()}`);
}

/** Raw lines of every partition journal of the collection. */
async function rawLines(b: TestBroker): Promise<{ txn?: string; _meta: { uuid: string; ack?: boolean } }[]> {
  const out = [];
  for (const j of await new BrokerClient(b.url).listJournals('inlet.dev/collection=acme/orders')) {
    const text = (await readAll(b.url, j.spec.name)).toString();
    for (const l of text.split('\n')) if (l) out.push(JSON.parse(l));
  }
  return out;
}

/**
 * A data dir whose journals hold a committed 'seed' transaction, then the documents of a 'lost'
 * one from `producer`, killed between its journal appends. Seeding first means the killed
 * request only appends (journal creation is not the point).
 */
async function seededThenCrashed(t: { is(a: unknown, b: unknown): void; teardown(fn: () => Promise<void>): void }, producer: Record<string, string>): Promise<string> {
  const dataDir = await tempDir();
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const b = await startBroker({ dataDir, args: ['--catalog', CATALOG] });
  t.is((await ingest(b, txnDocs('seed', 0, 4))).status, 200);
  await b.stop();
  await crashDuring(dataDir, 'ingest.append', txnDocs('lost', 100, 40), producer);
  return dataDir;
}

test('SIGKILL between the journal appends of a request: nothing of it is ever visible, and a retry lands once', async (t) => {
  const producer = { 'producer-id': 'p1', 'producer-seq': '1' };
  const dataDir = await seededThenCrashed(t, producer);

  const b = await startBroker({ dataDir, args: ['--catalog', CATALOG] });
  t.teardown(() => b.stop('SIGKILL').then(() => undefined));
  // The crash really came between appends: some journal holds the request's documents, uncommitted.
  const raw = await rawLines(b);
  t.true(raw.filter((l) => l.txn === 'lost').length >= 10, 'at least one journal got its documents before the kill');
  t.deepEqual((await committed(b)).map((d) => d.txn).sort(), ['seed', 'seed', 'seed', 'seed']);

  // The producer's next transactions (its retry, then another) commit only their own documents.
  t.is((await ingest(b, txnDocs('retry', 100, 40), producer)).status, 200);
  t.is((await ingest(b, txnDocs('next', 200, 8), { 'producer-id': 'p1', 'producer-seq': '2' })).status, 200);
  const docs = await committed(b);
  t.is(docs.filter((d) => d.txn === 'lost').length, 0);
  t.is(docs.filter((d) => d.txn === 'retry').length, 40);
  t.is(new Set(docs.filter((d) => d.txn === 'retry').map((d) => d.id)).size, 40);
  t.is(docs.filter((d) => d.txn === 'next').length, 8);
});

test('a broker that lost its transaction log never commits what the old log left uncommitted', async (t) => {
  const producer = { 'producer-id': 'p3', 'producer-seq': '1' };
  const dataDir = await seededThenCrashed(t, producer);
  await rm(join(dataDir, 'ingest'), { recursive: true });
  const b = await startBroker({ dataDir, args: ['--catalog', CATALOG] });
  t.teardown(() => b.stop('SIGKILL').then(() => undefined));
  t.true((await rawLines(b)).some((l) => l.txn === 'lost'));
  t.is((await ingest(b, txnDocs('after', 200, 8), producer)).status, 200);
  const docs = await committed(b);
  t.is(docs.filter((d) => d.txn === 'lost').length, 0);
  t.is(docs.filter((d) => d.txn === 'after').length, 8);
});

test('SIGKILL after the commit point: a restart writes the missing ACKs and the whole request is visible once', async (t) => {
  for (const point of ['ingest.commit', 'ingest.ack']) {
    const dataDir = await tempDir();
    t.teardown(() => rm(dataDir, { recursive: true, force: true }));
    await crashDuring(dataDir, point, txnDocs('kept', 0, 40), { 'producer-id': 'p2', 'producer-seq': '5' });
    const b = await startBroker({ dataDir, args: ['--catalog', CATALOG] });
    const docs = await committed(b);
    t.is(docs.length, 40, point);
    t.is(new Set(docs.map((d) => d.id)).size, 40, point);
    // Its retry is recognised as committed.
    const retry = await ingest(b, txnDocs('kept', 0, 40), { 'producer-id': 'p2', 'producer-seq': '5' });
    t.true(((await retry.json()) as { duplicate?: boolean }).duplicate, point);
    t.is((await committed(b)).length, 40, point);
    await b.stop('SIGKILL');
  }
});

test('SIGKILL at random moments under concurrent multi-partition ingest: every transaction is all or nothing, acknowledged ones all', async (t) => {
  const dataDir = await tempDir();
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const acked = new Set<string>();
  const sent = new Set<string>();
  let next = 0;
  for (let round = 0; round < 3; round++) {
    const b = await startBroker({ dataDir, args: ['--catalog', CATALOG] });
    let stop = false;
    const clients = Array.from({ length: 4 }, async (_, c) => {
      while (!stop) {
        const txn = `t${next++}`;
        sent.add(txn);
        const id = Number(txn.slice(1)) * 100;
        try {
          const res = await ingest(b, txnDocs(txn, id, 12, 6), c % 2 ? { 'producer-id': `c${c}`, 'producer-seq': String(id) } : {});
          if (res.status === 200) acked.add(txn);
          else return;
        } catch {
          return;
        }
      }
    });
    const target = acked.size + 20 + round * 7;
    while (acked.size < target) await new Promise((r) => setTimeout(r, 1));
    await b.stop('SIGKILL');
    stop = true;
    await Promise.all(clients);
  }
  const b = await startBroker({ dataDir, args: ['--catalog', CATALOG] });
  t.teardown(() => b.stop('SIGKILL').then(() => undefined));
  const byTxn = new Map<string, number>();
  for (const d of await committed(b)) byTxn.set(d.txn, (byTxn.get(d.txn) ?? 0) + 1);
  for (const [txn, n] of byTxn) t.is(n, 12, `transaction ${txn} is whole`);
  for (const txn of acked) t.true(byTxn.has(txn), `acknowledged ${txn} is visible`);
  t.true(sent.size > acked.size, 'some requests were in flight at a kill');
});
