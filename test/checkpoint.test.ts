import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { Appender } from '../src/client/appender.js';
import { BrokerClient } from '../src/client/broker-client.js';
import { partitionJournal, partitionLabels } from '../src/collections/partitions.js';
import { CollectionReader, type ReadCheckpoint } from '../src/collections/reader.js';
import { ACK_TXN, buildUuid, ClockSource, CONTINUE_TXN, OUTSIDE_TXN, randomProducer, ZERO_CLOCK } from '../src/collections/uuid.js';
import { cleanup, runCli, startBroker, tempDir } from './helpers/broker.js';

const COLLECTION = 'events';

/**
 * Writes a deterministic tangle of transactions into two partitions of `events`: three
 * producers whose transactions interleave across both journals, commits, rollbacks, retried
 * duplicates, documents outside transactions and documents without UUIDs, and one transaction
 * left open at the end. Every document carries a unique `n`.
 */
async function writeTangle(appender: Appender): Promise<{ multiDocAcks: number }> {
  let multiDocAcks = 0;
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const journals = ['a', 'b'].map((p) => partitionJournal(COLLECTION, ['part'], [p]));
  for (const [i, name] of journals.entries()) {
    await appender.ensure({ name, labels: partitionLabels(COLLECTION, ['part'], [['a', 'b'][i]!]), contentType: 'application/x-ndjson' });
  }
  const clocks = new ClockSource();
  const producers = Array.from({ length: 3 }, () => ({ id: randomProducer(), committed: ZERO_CLOCK, open: [] as { journal: string; line: string }[], last: ZERO_CLOCK }));
  let n = 0;
  const line = (p: string, clock: string, flags: number, body: object = {}) => JSON.stringify({ ...body, _meta: { uuid: buildUuid(p, clock, flags) } }) + '\n';
  for (let step = 0; step < 120; step++) {
    const p = producers[rand(3)]!;
    const journal = journals[rand(2)]!;
    const r = rand(20);
    if (r < 11) {
      p.last = clocks.next();
      const l = line(p.id, p.last, CONTINUE_TXN, { n: n++ });
      p.open.push({ journal, line: l });
      await appender.append(journal, Buffer.from(l));
    } else if (r < 15 && p.open.length > 0) {
      // Commit: an ACK in every journal the transaction touched; sometimes the whole transaction is retried after.
      const touched = new Set(p.open.map((o) => o.journal));
      for (const j of touched) if (p.open.filter((o) => o.journal === j).length > 1) multiDocAcks++;
      for (const j of touched) await appender.append(j, Buffer.from(line(p.id, p.last, ACK_TXN)));
      if (rand(3) === 0) for (const o of p.open) await appender.append(o.journal, Buffer.from(o.line));
      p.committed = p.last;
      p.open = [];
    } else if (r < 17 && p.open.length > 0) {
      for (const j of new Set(p.open.map((o) => o.journal))) await appender.append(j, Buffer.from(line(p.id, p.committed, ACK_TXN)));
      p.open = [];
    } else if (r < 18 && p.open.length === 0) {
      p.last = p.committed = clocks.next();
      await appender.append(journal, Buffer.from(line(p.id, p.last, OUTSIDE_TXN, { n: n++ })));
    } else if (r < 19) {
      await appender.append(journal, Buffer.from(JSON.stringify({ n: n++, plain: true }) + '\n'));
    }
  }
  return { multiDocAcks };
}

/** Takes `count` documents (or all, when undefined) and the checkpoint after them. */
async function readSome(client: BrokerClient, checkpoint: ReadCheckpoint | undefined, count?: number): Promise<{ ns: number[]; checkpoint: ReadCheckpoint }> {
  const reader = new CollectionReader<{ n: number }>(client, COLLECTION, checkpoint ? { checkpoint } : {});
  const ns: number[] = [];
  try {
    while (count === undefined || ns.length < count) {
      const d = await reader.take();
      if (!d) break;
      ns.push(d.doc.n);
    }
    // Through JSON, as a consumer stores it.
    return { ns, checkpoint: JSON.parse(JSON.stringify(reader.checkpoint())) as ReadCheckpoint };
  } finally {
    reader.close();
  }
}

test('a reader stopped anywhere and resumed from its checkpoint yields exactly the remaining committed documents', async (t) => {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  const client = new BrokerClient(b.url);
  const { multiDocAcks } = await writeTangle(new Appender(client));
  t.true(multiDocAcks > 0, 'some ACK commits several documents of one journal, so some stops fall between them');
  const all = (await readSome(client, undefined)).ns;
  t.true(all.length > 30, `only ${all.length} committed documents`);
  t.is(new Set(all).size, all.length, 'no document twice');

  let insideOpenTxn = 0;
  for (let k = 0; k <= all.length; k++) {
    const first = await readSome(client, undefined, k);
    const rest = await readSome(client, first.checkpoint);
    t.deepEqual([...first.ns, ...rest.ns], all, `stopped after ${k}`);
    if (Object.values(first.checkpoint).some((j) => Object.values(j.producers).some((p) => p.begin >= 0))) insideOpenTxn++;
  }
  t.true(insideOpenTxn > 0, 'some stop fell inside an open transaction');

  // A reader resumed from a checkpoint stops again, even while it replays what came before it.
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: all.length }), fc.integer({ min: 0, max: all.length }), async (k1, k2) => {
      const first = await readSome(client, undefined, k1);
      const second = await readSome(client, first.checkpoint, k2);
      const rest = await readSome(client, second.checkpoint);
      t.deepEqual([...first.ns, ...second.ns, ...rest.ns], all, `stopped after ${k1}, then ${k2} more`);
    }),
    { numRuns: 15, seed: 11 },
  );
});

test('inlet read --collection --checkpoint FILE prints each committed document once across runs; a bad file is one clear line', async (t) => {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const appender = new Appender(new BrokerClient(b.url));
  const journal = partitionJournal(COLLECTION, [], []);
  await appender.ensure({ name: journal, labels: partitionLabels(COLLECTION, [], []), contentType: 'application/x-ndjson' });
  const producer = randomProducer();
  const clocks = new ClockSource();
  const txn = async (ns: number[], commit: boolean) => {
    let clock = ZERO_CLOCK;
    for (const n of ns) await appender.append(journal, Buffer.from(JSON.stringify({ n, _meta: { uuid: buildUuid(producer, (clock = clocks.next()), CONTINUE_TXN) } }) + '\n'));
    if (commit) await appender.append(journal, Buffer.from(JSON.stringify({ _meta: { uuid: buildUuid(producer, clock, ACK_TXN) } }) + '\n'));
  };
  const file = join(dir, 'cp.json');
  const read = async () => {
    const out = await runCli(['read', '--collection', COLLECTION, '--checkpoint', file, '--broker', b.url]);
    t.is(out.code, 0, out.stderr);
    return out.stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { n: number }).n);
  };
  await txn([1, 2], true);
  await txn([3], false); // still open when the first run stops
  t.deepEqual(await read(), [1, 2]);
  await txn([4], true); // commits 3 and 4
  t.deepEqual(await read(), [3, 4]);
  t.deepEqual(await read(), []);

  await writeFile(file, 'not json');
  const bad = await runCli(['read', '--collection', COLLECTION, '--checkpoint', file, '--broker', b.url]);
  t.not(bad.code, 0);
  t.regex(bad.stderr.trim(), /^inlet: --checkpoint: .*cp\.json is not a checkpoint/);
  t.is(bad.stderr.trim().split('\n').length, 1);
});
