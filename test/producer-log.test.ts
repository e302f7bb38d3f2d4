import test from 'ava';
import { appendFile, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PRODUCER_LOG_FILE, ProducerLog } from '../src/journal/producer-log.js';
import { tempDir } from './helpers/broker.js';

const at = Date.now();
const state = (epoch: number, lastSeq: number, begin: number) => ({ epoch, lastSeq, lastUpdated: at, begin, end: begin + 10 });
const noCompaction = (t: { fail(m: string): void }) => async () => t.fail('no compaction this small');

/** A log whose folds keep the record they would write (`record`) and count themselves. */
function foldingLog(dir: string): { log: ProducerLog; record: Record<string, ReturnType<typeof state>> | undefined; compactions: number } {
  const out = { record: undefined as Record<string, ReturnType<typeof state>> | undefined, compactions: 0 } as ReturnType<typeof foldingLog>;
  out.log = ProducerLog.load(dir, undefined, Infinity, async () => {
    out.compactions++;
    out.record = out.log.snapshot();
  });
  return out;
}

test('lines apply over the record only when newer; a torn last line is cut and the next line lands whole after it', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = ProducerLog.load(dir, { a: state(0, 5, 50) }, Infinity, noCompaction(t));
  await Promise.all([log.record('a', state(0, 4, 40)), log.record('b', state(0, 0, 0)), log.record('b', state(0, 1, 10))]);
  t.deepEqual(Object.fromEntries(log.durable), { a: state(0, 5, 50), b: state(0, 1, 10) }, 'the older line of a does not win over the record');
  await log.close();
  // A crash mid-write left half a line.
  await appendFile(join(dir, PRODUCER_LOG_FILE), '{"id":"b","epoch":0,"lastSeq":2,"lastUp');

  const again = ProducerLog.load(dir, { a: state(0, 5, 50) }, Infinity, noCompaction(t));
  t.deepEqual(Object.fromEntries(again.durable), { a: state(0, 5, 50), b: state(0, 1, 10) });
  await again.record('b', state(1, 0, 70));
  await again.close();
  const lines = (await readFile(join(dir, PRODUCER_LOG_FILE), 'utf8')).trimEnd().split('\n');
  t.is(lines.length, 4);
  t.deepEqual(Object.fromEntries(ProducerLog.load(dir, undefined, Infinity, noCompaction(t)).durable), { a: state(0, 4, 40), b: state(1, 0, 70) }, 'a new epoch wins');
});

test('past its limit the log is folded into the record and starts over; the record and the new log give the same state', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const folded = foldingLog(dir);
  const { log } = folded;
  // Over 1 MiB of lines (one write for the first, one for the rest), then one more: it compacts first.
  await Promise.all(Array.from({ length: 12_000 }, (_, i) => log.record(`p${i % 500}`, state(0, Math.floor(i / 500), i * 10))));
  t.is(folded.compactions, 0);
  await log.record('late', state(0, 0, 999_999));
  t.is(folded.compactions, 1);
  t.is(Object.keys(folded.record!).length, 500);
  await log.close();
  t.true((await readFile(join(dir, PRODUCER_LOG_FILE), 'utf8')).length < 200, 'the log started over');
  t.deepEqual(Object.fromEntries(ProducerLog.load(dir, folded.record, Infinity, noCompaction(t)).durable), Object.fromEntries(log.durable));
});

test('a line is durable state only once its append is confirmed too; a cancelled line is cut from the file before anything else is written', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = ProducerLog.load(dir, undefined, Infinity, noCompaction(t));
  const a = log.log('a', state(0, 0, 0));
  const b = log.log('b', state(0, 0, 10));
  await Promise.all([a.written, b.written]);
  t.deepEqual([...log.durable.keys()], [], 'lines written, appends not yet durable: nothing to fold');
  a.confirm();
  t.deepEqual(Object.fromEntries(log.durable), { a: state(0, 0, 0) });
  const c = log.log('c', state(0, 0, 20));
  await c.written;
  // b's append failed: b and every line after it (c's append failed with it) leave the file.
  await b.cancel();
  await c.cancel();
  t.deepEqual((await readFile(join(dir, PRODUCER_LOG_FILE), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l).id), ['a']);
  await log.record('d', state(0, 0, 30));
  await log.close();
  t.deepEqual(Object.keys(Object.fromEntries(ProducerLog.load(dir, undefined, Infinity, noCompaction(t)).durable)).sort(), ['a', 'd']);
});

test('at load, the log is cut durably at the first line whose append ends past the journal\'s head (it was in flight at a crash)', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = ProducerLog.load(dir, undefined, Infinity, noCompaction(t));
  await Promise.all([log.record('a', state(0, 0, 0)), log.record('b', state(0, 0, 10)), log.record('a', state(0, 1, 20))]);
  await log.close();
  // The head is 20: a's second append [20, 30) was lost with the crash.
  const again = ProducerLog.load(dir, undefined, 20, noCompaction(t));
  t.deepEqual(Object.fromEntries(again.durable), { a: state(0, 0, 0), b: state(0, 0, 10) });
  await again.close();
  t.is((await readFile(join(dir, PRODUCER_LOG_FILE), 'utf8')).trimEnd().split('\n').length, 2, 'the line is gone from the file');
  // Once the journal grows past 30 with other bytes, the line must not come back.
  t.deepEqual(Object.fromEntries(ProducerLog.load(dir, undefined, 1000, noCompaction(t)).durable), { a: state(0, 0, 0), b: state(0, 0, 10) });
});

test('at load, a line of an old state written after a lost append (a retry\'s) is kept, and the lost line never comes back', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = ProducerLog.load(dir, undefined, Infinity, noCompaction(t));
  // b's own line was never written (its write failed); its retry, acknowledged after a's next append, recorded it.
  await log.record('a', state(0, 0, 0));
  await log.record('a', state(0, 1, 20));
  await log.record('b', state(0, 0, 10));
  await log.close();
  // The head is 20: a's append [20, 30) was lost with the crash; b's [10, 20) was not.
  const again = ProducerLog.load(dir, undefined, 20, noCompaction(t));
  t.deepEqual(Object.fromEntries(again.durable), { a: state(0, 0, 0), b: state(0, 0, 10) });
  await again.record('c', state(0, 0, 20));
  await again.close();
  t.deepEqual(Object.fromEntries(ProducerLog.load(dir, undefined, 1000, noCompaction(t)).durable), { a: state(0, 0, 0), b: state(0, 0, 10), c: state(0, 0, 20) });
});

test('a line cancelled while the log is still opening its file is cut, and settles: later lines and folding go on', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let folds = 0;
  const log = ProducerLog.load(dir, undefined, Infinity, async () => void folds++);
  // The first line opens the file; its append fails before that is done.
  const lost = log.log('p', state(0, 5, 100));
  await lost.cancel();
  await lost.written.catch(() => undefined);
  await log.record('q', state(0, 0, 0));
  // Past the limit the next line folds, which waits for every line in flight to settle.
  const big = 'x'.repeat(1000);
  await Promise.all(Array.from({ length: 1100 }, (_, i) => log.record(`f${i}${big}`, state(0, 0, 0))));
  const folded = await Promise.race([log.record('r', state(0, 0, 0)).then(() => 'written'), new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5000))]);
  t.is(folded, 'written');
  t.is(folds, 1);
  await log.close();
  t.false((await readFile(join(dir, PRODUCER_LOG_FILE), 'utf8')).includes('"id":"p"'), 'the cancelled line is not in the file');
});

test('folding waits for the lines in flight: a line whose append is not yet durable is folded only once confirmed, never dropped', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const folded = foldingLog(dir);
  const { log } = folded;
  const inFlight = log.log('x', state(0, 0, 0));
  await inFlight.written;
  // Past the limit with lines of durable appends: the next write folds first.
  await Promise.all(Array.from({ length: 12_000 }, (_, i) => log.record(`p${i % 500}`, state(0, Math.floor(i / 500), 10 + i * 10))));
  const late = log.record('late', state(0, 0, 999_999));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.is(folded.compactions, 0, 'the fold waits for x\'s append');
  inFlight.confirm();
  await late;
  t.is(folded.compactions, 1);
  t.deepEqual(folded.record!.x, state(0, 0, 0), 'x is in the record the log was folded into');
  await log.close();
  t.deepEqual(Object.fromEntries(ProducerLog.load(dir, folded.record, Infinity, async () => undefined).durable), Object.fromEntries(log.durable));
});
