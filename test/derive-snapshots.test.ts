import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { Appender } from '../src/client/appender.js';
import { BrokerClient } from '../src/client/broker-client.js';
import type { ConsumerCheckpoint } from '../src/consumer/types.js';
import { latestSnapshot, snapshotJournals } from '../src/derive/snapshots.js';
import { RegisterStore } from '../src/derive/store.js';
import { cleanup, ROOT, startBroker, tempDir, type TestBroker } from './helpers/broker.js';

const CHILD = join(ROOT, 'test/helpers/snapshot-child.mjs');
const REGISTERS = 500; // as in the child
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
    await store.commit({ sources: {}, ackIntents: {}, lastCommitted: String(i) } as unknown as ConsumerCheckpoint, Promise.resolve());
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

test.serial('a snapshot whose body does not match its pointer is not loaded: recovery replays the whole log', async (t) => {
  const { client, dir } = await setup(t);
  const store = await open(client, join(dir, 'a.sqlite'));
  t.teardown(() => store.close());
  await commitAll(store, 0, 5);
  await store.snapshot();
  const good = (await latestSnapshot(client, JOURNAL))!;
  // A pointer with another digest (as a damaged body would give).
  const { pointers } = snapshotJournals(JOURNAL);
  await client.append(pointers, Buffer.from(`${JSON.stringify({ ...good, sha256: '0'.repeat(64) })}\n`), 'application/x-ndjson');
  const recovered = await open(client, join(dir, 'b.sqlite'));
  recovered.close();
  t.is(recovered.recovery!.snapshotBase, undefined);
  t.is(recovered.recovery!.logBytes, (await client.head(JOURNAL)).writeHead);
  t.deepEqual(dump(join(dir, 'b.sqlite')), expected(5));
});
