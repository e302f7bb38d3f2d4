import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { Appender } from '../src/client/appender.js';
import { BrokerClient } from '../src/client/broker-client.js';
import type { ConsumerCheckpoint } from '../src/consumer/types.js';
import type { InletError } from '../src/errors.js';
import { latestSnapshot, snapshotJournals } from '../src/derive/snapshots.js';
import { RegisterStore } from '../src/derive/store.js';
import { cleanup, ROOT, runCli, startBroker, tempDir, type TestBroker } from './helpers/broker.js';
import { committedDocs, ingest } from './helpers/collections.js';

const CHILD = join(ROOT, 'test/helpers/snapshot-child.mjs');
const REGISTERS = 500; // as in test/helpers/snapshot-child.mjs
const JOURNAL = 'recovery/derive/acme/snap';

async function setup(t: ExecutionContext): Promise<{ b: TestBroker; client: BrokerClient; dir: string }> {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return { b, client: new BrokerClient(b.url), dir };
}

/** Runs the child: commits [from, to) (each writes every register), then a snapshot when asked. */
function child(b: TestBroker, path: string, from: number, to: number, snapshot: boolean, crashAt?: string): Promise<number | string> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CHILD, b.url, path, JOURNAL, String(from), String(to), snapshot ? '1' : '0'], {
      env: { ...process.env, ...(crashAt ? { INLET_CRASH_AT: crashAt } : {}) },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    p.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
}

function open(client: BrokerClient, path: string, snapshots = { minBytes: Number.MAX_SAFE_INTEGER }): Promise<RegisterStore> {
  return RegisterStore.open(path, { client, writer: new Appender(client), journal: JOURNAL, snapshots });
}

function dump(path: string): Record<string, unknown> {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare('SELECT key, value FROM registers ORDER BY key').all() as { key: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.value)]));
  } finally {
    db.close();
  }
}

/** The registers after commits [0, commits): every register holds the last commit. */
function expected(commits: number): Record<string, unknown> {
  return Object.fromEntries(Array.from({ length: REGISTERS }, (_, j) => [`k${String(j).padStart(4, '0')}`, { i: commits - 1, j }]));
}

async function commitAll(store: RegisterStore, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    for (let j = 0; j < REGISTERS; j++) store.put(`k${String(j).padStart(4, '0')}`, { i, j });
    await store.commit(Promise.resolve({ sources: {}, ackIntents: {}, lastCommitted: String(i) } as unknown as ConsumerCheckpoint));
  }
}

test.serial('recovery on an empty data dir with a snapshot reads only the log after it, and ends with the same registers and checkpoint', async (t) => {
  const { client, dir } = await setup(t);
  const store = await open(client, join(dir, 'a.sqlite'));
  t.teardown(() => store.close());
  await commitAll(store, 0, 20);
  const headBefore = (await client.head(JOURNAL)).writeHead;

  const plain = await open(client, join(dir, 'b.sqlite'));
  plain.close();
  t.is(plain.recovery!.logBytes, headBefore, 'without a snapshot, the whole log is replayed');
  t.is(plain.recovery!.snapshotBase, undefined);

  await store.snapshot();
  await commitAll(store, 20, 21);
  const head = (await client.head(JOURNAL)).writeHead;
  const pointer = (await latestSnapshot(client, JOURNAL))!;
  t.is(pointer.base, headBefore);
  t.is(pointer.registers, REGISTERS);

  const recovered = await open(client, join(dir, 'c.sqlite'));
  t.teardown(() => recovered.close());
  t.is(recovered.recovery!.snapshotBase, headBefore);
  t.is(recovered.recovery!.logBytes, head - headBefore);
  t.true(recovered.recovery!.logBytes * 10 < plain.recovery!.logBytes, `${recovered.recovery!.logBytes} log bytes read, against ${plain.recovery!.logBytes}`);
  t.deepEqual(dump(join(dir, 'c.sqlite')), expected(21));
  t.deepEqual(dump(join(dir, 'c.sqlite')), dump(join(dir, 'a.sqlite')));
  t.is((await recovered.restoreCheckpoint())!.lastCommitted, '20');
  t.is(recovered.meta('log'), String(head));
});

test.serial('a snapshot holds the register of the empty key (a shuffle key whose field is absent), and a store that is current reads no pointer', async (t) => {
  const { client, dir } = await setup(t);
  const store = await open(client, join(dir, 'a.sqlite'));
  t.teardown(() => store.close());
  store.put('', { empty: true });
  store.put('k', { empty: false });
  await store.commit(Promise.resolve({ sources: {}, ackIntents: {}, lastCommitted: '0' } as unknown as ConsumerCheckpoint));
  await store.snapshot();
  const pointer = (await latestSnapshot(client, JOURNAL))!;
  t.is(pointer.registers, 2);
  const recovered = await open(client, join(dir, 'b.sqlite'));
  recovered.close();
  t.is(recovered.recovery!.snapshotBase, pointer.base);
  t.deepEqual(dump(join(dir, 'b.sqlite')), { '': { empty: true }, k: { empty: false } });
  // A line that is not a pointer: a store already current never reads it; one behind recovers from the log.
  await client.append(snapshotJournals(JOURNAL).pointers, Buffer.from('not json\n'), 'application/x-ndjson');
  const current = await open(client, join(dir, 'b.sqlite'));
  current.close();
  t.is(current.recovery!.logBytes, 0);
  const behind = await open(client, join(dir, 'c.sqlite'));
  behind.close();
  t.is(behind.recovery!.snapshotBase, undefined);
  t.deepEqual(dump(join(dir, 'c.sqlite')), dump(join(dir, 'a.sqlite')));
});

test.serial('a snapshot is written in the background once the log grew past max(minBytes, factor × the last snapshot), while commits go on', async (t) => {
  const { client, dir } = await setup(t);
  const opts = { minBytes: 60_000, factor: 10 };
  const store = await open(client, join(dir, 'a.sqlite'), opts);
  t.teardown(() => store.close());
  await commitAll(store, 0, 3); // ~14 KB per commit: below the threshold
  await store.settleSnapshots();
  t.is(await latestSnapshot(client, JOURNAL), undefined);

  const again = await open(client, join(dir, 'b.sqlite'), opts);
  t.teardown(() => again.close());
  await commitAll(again, 3, 6);
  await again.settleSnapshots();
  const first = (await latestSnapshot(client, JOURNAL))!;
  t.truthy(first, 'a snapshot once the log passed 60 KB');
  t.deepEqual(dump(join(dir, 'b.sqlite')), expected(6)); // the store kept committing meanwhile
  const pointersHead = (await client.head(snapshotJournals(JOURNAL).pointers)).writeHead;

  // The next needs 10 × the snapshot's size (~140 KB) of log beyond its base: not after 6 more commits.
  const third = await open(client, join(dir, 'c.sqlite'), opts);
  t.teardown(() => third.close());
  t.is(third.recovery!.snapshotBase, first.base);
  await commitAll(third, 6, 12);
  await third.settleSnapshots();
  t.is((await client.head(snapshotJournals(JOURNAL).pointers)).writeHead, pointersHead);
  t.deepEqual(dump(join(dir, 'c.sqlite')), expected(12));
});

for (const [point, published] of [
  ['derive.snapshot.chunk:3', false],
  ['derive.snapshot.written', false],
  ['derive.snapshot.published', true],
] as const) {
  test.serial(`SIGKILL at ${point}: recovery on an empty data dir uses the ${published ? 'new' : 'previous'} snapshot and ends with the registers of every commit`, async (t) => {
    const { b, client, dir } = await setup(t);
    const path = join(dir, 'a.sqlite');
    t.is(await child(b, path, 0, 5, true), 0);
    const previous = (await latestSnapshot(client, JOURNAL))!;
    t.truthy(previous);
    t.is(await child(b, path, 5, 10, true, point), 'SIGKILL');
    const head = (await client.head(JOURNAL)).writeHead;
    const bodies = (await client.head(snapshotJournals(JOURNAL).bodies)).writeHead;
    t.true(bodies > previous.end, 'the killed snapshot wrote some of its body');
    const last = (await latestSnapshot(client, JOURNAL))!;
    t.is(last.base, published ? head : previous.base);

    const recovered = await open(client, join(dir, 'fresh.sqlite'));
    t.teardown(() => recovered.close());
    t.is(recovered.recovery!.snapshotBase, last.base);
    t.is(recovered.recovery!.logBytes, head - last.base);
    t.deepEqual(dump(join(dir, 'fresh.sqlite')), expected(10));
    t.is((await recovered.restoreCheckpoint())!.lastCommitted, '9');
    // The killed process's own store goes on from its log offset, and snapshots again.
    t.is(await child(b, path, 10, 11, true), 0);
    const next = (await latestSnapshot(client, JOURNAL))!;
    const again = await open(client, join(dir, 'again.sqlite'));
    again.close();
    t.is(again.recovery!.snapshotBase, next.base);
    t.is(again.recovery!.logBytes, 0);
    t.deepEqual(dump(join(dir, 'again.sqlite')), expected(11));
  });
}

test.serial('a snapshot whose body does not match its pointer is not loaded: recovery falls back to an older snapshot', async (t) => {
  const { client, dir } = await setup(t);
  const store = await open(client, join(dir, 'a.sqlite'));
  t.teardown(() => store.close());
  await commitAll(store, 0, 3);
  await store.snapshot();
  const good = (await latestSnapshot(client, JOURNAL))!;
  await commitAll(store, 3, 5);
  // A pointer of a greater base with another digest (as a damaged body would give).
  const { pointers } = snapshotJournals(JOURNAL);
  const head = (await client.head(JOURNAL)).writeHead;
  await client.append(pointers, Buffer.from(`${JSON.stringify({ ...good, base: head, sha256: '0'.repeat(64) })}\n`), 'application/x-ndjson');
  t.is((await latestSnapshot(client, JOURNAL))!.base, head);
  const recovered = await open(client, join(dir, 'b.sqlite'));
  recovered.close();
  t.is(recovered.recovery!.snapshotBase, good.base);
  t.is(recovered.recovery!.logBytes, head - good.base);
  t.deepEqual(dump(join(dir, 'b.sqlite')), expected(5));
});

test.serial('each snapshot prunes the lake of the log below the two newest snapshots and of older bodies; recovery on an empty data dir is unchanged', async (t) => {
  const { client, dir } = await setup(t);
  const store = await open(client, join(dir, 'a.sqlite'));
  t.teardown(() => store.close());
  const { bodies } = snapshotJournals(JOURNAL);
  const fragments = async (journal: string) => (await client.listFragments({ journal }))[0]!.fragments.map((f) => [f.begin, f.end]);
  // Each round: commits persisted as a fragment of the log, two more commits, a snapshot (its body persisted too).
  const bases: number[] = [];
  for (let round = 0; round < 3; round++) {
    await commitAll(store, round * 10, round * 10 + 8);
    await client.flushFragments({ journal: JOURNAL });
    await commitAll(store, round * 10 + 8, round * 10 + 10);
    await store.snapshot();
    bases.push((await latestSnapshot(client, JOURNAL))!.base);
    await client.flushFragments({ journal: bodies });
  }
  const log = await fragments(JOURNAL);
  t.true(log.length > 0);
  // Only what the second-newest snapshot (its base and the 256 bytes below it) does not need is gone.
  t.true(log[0]![0]! > 0, `log fragments ${JSON.stringify(log)}`);
  t.true(log[0]![0]! <= bases[1]! - 256, `log fragments ${JSON.stringify(log)}, bases ${bases}`);
  const bodyFragments = await fragments(bodies);
  t.true(bodyFragments[0]![0]! > 0, `body fragments ${JSON.stringify(bodyFragments)}`);
  // The pruned history is gone for readers (410), and a rebuild needs none of it.
  const gone = await client.readFrom(JOURNAL, 0, false).then(
    () => undefined,
    (err: InletError) => err.code,
  );
  t.is(gone, 'OFFSET_GONE');
  await commitAll(store, 30, 31);
  const recovered = await open(client, join(dir, 'b.sqlite'));
  recovered.close();
  t.is(recovered.recovery!.snapshotBase, bases[2]);
  t.deepEqual(dump(join(dir, 'b.sqlite')), expected(31));
  t.deepEqual(dump(join(dir, 'b.sqlite')), dump(join(dir, 'a.sqlite')));
});

test.serial('a snapshot of a log since deleted and created again is not loaded: recovery replays the new log alone', async (t) => {
  const { client, dir } = await setup(t);
  const old = await open(client, join(dir, 'a.sqlite'));
  await commitAll(old, 0, 3);
  await old.snapshot();
  const stale = (await latestSnapshot(client, JOURNAL))!;
  old.close();
  await client.deleteJournal(JOURNAL);
  // A new history, longer than the old one, so the stale pointer's base is below its head.
  const fresh = await open(client, join(dir, 'b.sqlite'));
  t.teardown(() => fresh.close());
  await commitAll(fresh, 10, 15);
  t.true((await client.head(JOURNAL)).writeHead > stale.base);
  const recovered = await open(client, join(dir, 'c.sqlite'));
  recovered.close();
  t.is(recovered.recovery!.snapshotBase, undefined);
  t.deepEqual(dump(join(dir, 'c.sqlite')), expected(15));
});

test.serial('a fenced process that snapshots after another took over publishes an older, still true prefix; recovery prefers the newer one and gets the same registers', async (t) => {
  const { client, dir } = await setup(t);
  const stale = await open(client, join(dir, 'a.sqlite'));
  t.teardown(() => stale.close());
  await commitAll(stale, 0, 3);
  const current = await open(client, join(dir, 'b.sqlite'));
  t.teardown(() => current.close());
  await commitAll(current, 3, 6);
  await current.snapshot();
  const newer = (await latestSnapshot(client, JOURNAL))!;
  // The stale process is fenced: its commit fails, and nothing of it reaches the log or SQLite.
  const staleBase = Number(stale.meta('log'));
  await t.throwsAsync(commitAll(stale, 3, 4), { message: /offset/i });
  t.is(Number(stale.meta('log')), staleBase);
  // Its snapshot is of the prefix [0, staleBase), which the log still holds.
  await stale.snapshot();
  t.true(staleBase < newer.base);
  t.true((await client.head(snapshotJournals(JOURNAL).pointers)).writeHead > 0);
  // Recovery takes the pointer of greatest base in the tail, not the stale one appended last.
  t.deepEqual(await latestSnapshot(client, JOURNAL), newer);
  const recovered = await open(client, join(dir, 'c.sqlite'));
  recovered.close();
  t.is(recovered.recovery!.snapshotBase, newer.base);
  t.deepEqual(dump(join(dir, 'c.sqlite')), expected(6));
});

const CATALOG = join(ROOT, 'test/fixtures/derive/totals.flow.yaml');
const EVENTS = join(ROOT, 'test/fixtures/derive/events.flow.yaml');
const KEYS = ['a', 'b', 'c', 'd', 'e'];

async function ingestEvents(b: TestBroker, first: number, count: number): Promise<void> {
  for (let at = first; at < first + count; at += 50) {
    const docs = Array.from({ length: Math.min(50, first + count - at) }, (_, i) => ({ id: at + i, key: KEYS[(at + i) % 5]!, n: at + i, shard: (at + i) % 3 }));
    const res = await ingest(b, { 'acme/events': docs });
    if (res.status !== 200) throw new Error(`ingest: ${res.status} ${await res.text()}`);
  }
}

/** The last committed totals of each key are the reduction of the input. */
async function assertTotals(t: ExecutionContext, b: TestBroker, inputs: number): Promise<void> {
  const expect: Record<string, { count: number; total: number }> = {};
  for (let id = 0; id < inputs; id++) expect[KEYS[id % 5]!] = { count: (expect[KEYS[id % 5]!]?.count ?? 0) + 1, total: (expect[KEYS[id % 5]!]?.total ?? 0) + id };
  const last: Record<string, { count: number; total: number }> = {};
  for (const d of await committedDocs<{ key: string; count: number; total: number }>(b, 'acme/totals')) last[d.key] = { count: d.count, total: d.total };
  t.deepEqual(last, expect);
}

for (const point of ['derive.snapshot.written', 'derive.snapshot.published']) {
  test.serial(`inlet runtime snapshotting as it goes, SIGKILLed at ${point}, then run on an empty data dir: the output is the reduction of the input, recovered from a snapshot`, async (t) => {
    const b = await startBroker({ args: ['--catalog', EVENTS] });
    t.teardown(() => cleanup(b));
    const dir = await tempDir();
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const client = new BrokerClient(b.url);
    const log = 'recovery/derive/acme/totals';
    const run = (data: string, env: NodeJS.ProcessEnv) =>
      runCli(['runtime', '--broker', b.url, '--catalog', CATALOG, '--data-dir', join(dir, data), '--settle', '--txn-ms', '5', '--snapshot-bytes', '1000'], { env });
    await ingestEvents(b, 0, 400);
    const first = await run('one', { INLET_LOG_LEVEL: 'info' });
    t.is(first.code, 0, first.stderr);
    t.regex(first.stderr, /"derivation":"acme\/totals".*"registers":5,.*"ms":\d+.*"msg":"snapshot written"/);
    const snapshot = (await latestSnapshot(client, log))!;
    t.truthy(snapshot, 'a snapshot once the log passed 1000 bytes');
    await ingestEvents(b, 400, 200);
    const killed = await run('one', { INLET_CRASH_AT: point });
    t.is(killed.code, -1, killed.stderr);
    const last = (await latestSnapshot(client, log))!;
    t.is(last.base > snapshot.base, point.startsWith('derive.snapshot.published'));
    await ingestEvents(b, 600, 100);
    const fresh = await run('two', { INLET_LOG_LEVEL: 'info' });
    t.is(fresh.code, 0, fresh.stderr);
    t.regex(fresh.stderr, /"snapshotBase":\d+.*"msg":"recovered from a snapshot and the log after it"/);
    await assertTotals(t, b, 700);
    // The second run's store started from a snapshot, not from the log's beginning.
    const store = await RegisterStore.open(join(dir, 'three.sqlite'), { client, writer: new Appender(client), journal: log, snapshots: { disabled: true } });
    store.close();
    t.true(store.recovery!.snapshotBase! > 0);
    t.true(store.recovery!.logBytes < store.recovery!.head);
  });
}
