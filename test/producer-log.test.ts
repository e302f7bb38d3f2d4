import test from 'ava';
import { appendFile, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PRODUCER_LOG_FILE, ProducerLog } from '../src/journal/producer-log.js';
import { tempDir } from './helpers/broker.js';

const at = Date.now();
const state = (epoch: number, lastSeq: number, begin: number) => ({ epoch, lastSeq, lastUpdated: at, begin, end: begin + 10 });

test('lines apply over the record only when newer; a torn last line is cut and the next line lands whole after it', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = ProducerLog.load(dir, { a: state(0, 5, 50) });
  const compact = async () => t.fail('no compaction this small');
  await Promise.all([log.record('a', state(0, 4, 40), compact), log.record('b', state(0, 0, 0), compact), log.record('b', state(0, 1, 10), compact)]);
  t.deepEqual(Object.fromEntries(log.durable), { a: state(0, 5, 50), b: state(0, 1, 10) }, 'the older line of a does not win over the record');
  await log.close();
  // A crash mid-write left half a line.
  await appendFile(join(dir, PRODUCER_LOG_FILE), '{"id":"b","epoch":0,"lastSeq":2,"lastUp');

  const again = ProducerLog.load(dir, { a: state(0, 5, 50) });
  t.deepEqual(Object.fromEntries(again.durable), { a: state(0, 5, 50), b: state(0, 1, 10) });
  await again.record('b', state(1, 0, 70), compact);
  await again.close();
  const lines = (await readFile(join(dir, PRODUCER_LOG_FILE), 'utf8')).trimEnd().split('\n');
  t.is(lines.length, 4);
  t.deepEqual(Object.fromEntries(ProducerLog.load(dir, undefined).durable), { a: state(0, 4, 40), b: state(1, 0, 70) }, 'a new epoch wins');
});

test('past its limit the log is folded into the record and starts over; the record and the new log give the same state', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = ProducerLog.load(dir, undefined);
  let record: Record<string, ReturnType<typeof state>> | undefined;
  let compactions = 0;
  const compact = async () => {
    compactions++;
    record = log.snapshot();
  };
  // Over 1 MiB of lines (one write for the first, one for the rest), then one more: it compacts first.
  await Promise.all(Array.from({ length: 12_000 }, (_, i) => log.record(`p${i % 500}`, state(0, Math.floor(i / 500), i * 10), compact)));
  t.is(compactions, 0);
  await log.record('late', state(0, 0, 999_999), compact);
  t.is(compactions, 1);
  t.is(Object.keys(record!).length, 500);
  await log.close();
  t.true((await readFile(join(dir, PRODUCER_LOG_FILE), 'utf8')).length < 200, 'the log started over');
  t.deepEqual(Object.fromEntries(ProducerLog.load(dir, record).durable), Object.fromEntries(log.durable));
});
