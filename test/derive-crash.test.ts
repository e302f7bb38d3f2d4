import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { committedDocs, ingest } from './helpers/collections.js';
import { cleanup, ROOT, runCli, startBroker, tempDir, type TestBroker } from './helpers/broker.js';

const CATALOG = join(ROOT, 'test/fixtures/derive/totals.flow.yaml');
/** The brokers serve the sources only: `inlet runtime` runs the derivation. */
const EVENTS = join(ROOT, 'test/fixtures/derive/events.flow.yaml');
const KEYS = ['a', 'b', 'c', 'd', 'e'];
/** Runs of 40 ids share a key, so successive transactions publish to different partitions of acme/totals. */
const keyOf = (id: number) => KEYS[Math.floor(id / 40) % KEYS.length]!;

async function ingestEvents(b: TestBroker, first: number, count: number): Promise<void> {
  for (let at = first; at < first + count; at += 20) {
    const docs = Array.from({ length: Math.min(20, first + count - at) }, (_, i) => ({ id: at + i, key: keyOf(at + i), n: at + i, shard: (at + i) % 3 }));
    const res = await ingest(b, { 'acme/events': docs });
    if (res.status !== 200) throw new Error(`ingest: ${res.status} ${await res.text()}`);
  }
}

/** Every committed totals document steps its key's count up (nothing repeated, nothing orphaned committed); the last equals the reduction of the input. */
async function assertTotals(t: ExecutionContext, b: TestBroker, inputs: number): Promise<void> {
  const expected: Record<string, { count: number; total: number }> = {};
  for (let id = 0; id < inputs; id++) expected[keyOf(id)] = { count: (expected[keyOf(id)]?.count ?? 0) + 1, total: (expected[keyOf(id)]?.total ?? 0) + id };
  const out = await committedDocs<{ key: string; count: number; total: number }>(b, 'acme/totals');
  const last: Record<string, { count: number; total: number }> = {};
  for (const d of out) {
    t.true(d.count > (last[d.key]?.count ?? 0), `key ${d.key}: count ${d.count} after ${last[d.key]?.count ?? 0}`);
    last[d.key] = { count: d.count, total: d.total };
  }
  t.deepEqual(last, expected);
}

function runtime(b: TestBroker, dataDir: string, env: NodeJS.ProcessEnv = {}) {
  return runCli(['runtime', '--broker', b.url, '--catalog', CATALOG, '--data-dir', dataDir, '--settle', '--txn-ms', '5'], { env });
}

for (const point of ['consumer.read:150', 'consumer.append:2', 'consumer.append:5', 'consumer.commit:2', 'consumer.committed:2', 'consumer.ack:4']) {
  test.serial(`SIGKILL of inlet runtime at ${point}, in backfill then live: the derived output is the reduction of the input, once`, async (t) => {
    const b = await startBroker({ args: ['--catalog', EVENTS] });
    t.teardown(() => cleanup(b));
    const dir = await tempDir();
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    // Backfill: the history is there before the runtime starts.
    await ingestEvents(b, 0, 400);
    const crashed = await runtime(b, dir, { INLET_CRASH_AT: point });
    t.is(crashed.code, -1, `the runtime should have been killed at ${point}: ${crashed.stderr}`);
    const again = await runtime(b, dir);
    t.is(again.code, 0, again.stderr);
    await assertTotals(t, b, 400);
    // Live: the runtime runs while documents arrive, and is killed among them.
    const live = runtime(b, dir, { INLET_CRASH_AT: point });
    await ingestEvents(b, 400, 400);
    const killed = await live;
    if (killed.code !== -1) t.is(killed.code, 0, killed.stderr); // it may settle before the crash point's n-th pass
    const last = await runtime(b, dir);
    t.is(last.code, 0, last.stderr);
    await assertTotals(t, b, 800);
  });
}

test.serial('a derivation restarted on an empty data dir, its broker on an empty data dir too (the lake kept), recovers registers and checkpoint from the recovery log', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const args = ['--catalog', EVENTS, '--store', `file://${join(dir, 'lake')}/`];
  let b = await startBroker({ dataDir: join(dir, 'broker1'), args });
  await ingestEvents(b, 0, 300);
  // Killed right after a commit record reached the log, before SQLite had it: the log is the commit.
  const crashed = await runtime(b, join(dir, 'rt1'), { INLET_CRASH_AT: 'derive.logged:2' });
  t.is(crashed.code, -1, crashed.stderr);
  t.is((await runtime(b, join(dir, 'rt1'))).code, 0);
  await assertTotals(t, b, 300);
  t.is(await b.stop('SIGTERM'), 0); // a clean stop puts every journal in the lake

  b = await startBroker({ dataDir: join(dir, 'broker2'), args });
  t.teardown(() => cleanup(b));
  await ingestEvents(b, 300, 200);
  const again = await runtime(b, join(dir, 'rt2'));
  t.is(again.code, 0, again.stderr);
  await assertTotals(t, b, 500);
});
