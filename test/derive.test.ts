import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { loadCatalog } from '../src/catalog/load.js';
import type { Catalog } from '../src/catalog/types.js';
import { Appender } from '../src/client/appender.js';
import { BrokerClient } from '../src/client/broker-client.js';
import { DerivationRuntime } from '../src/derive/runtime.js';
import { committedDocs, ingest } from './helpers/collections.js';
import { cleanup, ROOT, startBroker, tempDir, type TestBroker } from './helpers/broker.js';

const FIXTURES = join(ROOT, 'test/fixtures/derive');
const TOTALS = join(FIXTURES, 'totals.flow.yaml');
const TOTALS_MODULE = join(FIXTURES, 'totals.mjs');
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
  const b = await startBroker({ args: ['--catalog', catalogPath] });
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
