import test from 'ava';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TxnLog } from '../src/collections/txn-log.js';

async function dir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'inlet-txnlog-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

test('the log reopens with its epoch, open transactions, client states and greatest clock', async (t) => {
  const d = await dir(t);
  const log = await TxnLog.open(d);
  const epoch = log.epoch;
  t.regex(epoch, /^[0-9a-f]{16}$/);
  await log.write({ op: 'prepare', txn: 'a', producer: 'p', rollback: '0000000000000000', journals: ['j1'] });
  await log.write({ op: 'prepare', txn: 'b', producer: 'q', rollback: '0000000000000000', journals: ['j2'] });
  const client = { id: 'c', producer: 'q', seq: 4, clock: '00000000000000ff', response: { ok: true }, at: Date.now() };
  await log.write({ op: 'commit', txn: 'b', producer: 'q', clock: '00000000000000ff', journals: ['j2'], client });
  await log.write({ op: 'prepare', txn: 'c', producer: 'r', rollback: '0000000000000000', journals: ['j3'] });
  await log.write({ op: 'done', txn: 'c' });
  await log.close();

  const again = await TxnLog.open(d);
  t.is(again.epoch, epoch);
  t.deepEqual([...again.open.keys()].sort(), ['a', 'b']);
  t.is(again.open.get('b')!.op, 'commit');
  t.deepEqual(again.clients.get('c'), client);
  t.is(again.maxClock, '00000000000000ff');
  await again.close();
  // Reopening compacted it to its live state: epoch, clock, one client, two open transactions.
  t.is((await readFile(join(d, 'txn.log'), 'utf8')).trim().split('\n').length, 5);
});

test('a torn last line is a step that never happened; a damaged line before it is an error', async (t) => {
  const d = await dir(t);
  const log = await TxnLog.open(d);
  await log.write({ op: 'prepare', txn: 'a', producer: 'p', rollback: '0000000000000000', journals: ['j1'] });
  await log.close();
  await appendFile(join(d, 'txn.log'), '{"op":"commit","txn":"a","produc');
  const torn = await TxnLog.open(d);
  t.is(torn.open.get('a')!.op, 'prepare');
  await torn.close();

  const text = await readFile(join(d, 'txn.log'), 'utf8');
  await writeFile(join(d, 'txn.log'), 'garbage\n' + text);
  await t.throwsAsync(TxnLog.open(d), { message: /line 1 is not a record/ });
});

test('expired client states are forgotten at compaction, the greatest clock is not', async (t) => {
  const d = await dir(t);
  const log = await TxnLog.open(d);
  const old = { id: 'old', producer: 'p', seq: 1, clock: '0000000000000fff', response: {}, at: Date.now() - 8 * 24 * 3600 * 1000 };
  await log.write({ op: 'client', state: old });
  await log.close();
  const again = await TxnLog.open(d);
  t.false(again.clients.has('old'));
  t.is(again.maxClock, '0000000000000fff');
  await again.close();
  const third = await TxnLog.open(d);
  t.is(third.maxClock, '0000000000000fff');
  await third.close();
});
