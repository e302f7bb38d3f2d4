import test from 'ava';
import { readdir, readFile, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeFrameHeader, FILE_HEADER, FRAME_HEADER } from '../src/journal/spool-format.js';
import { appendTo, createJournal, readAll, startBroker, tempDir } from './helpers/broker.js';

const NDJSON = 'application/x-ndjson';
const producer = (seq: number) => ({ 'producer-id': 'p1', 'producer-epoch': '0', 'producer-seq': String(seq) });
const doc = (seq: number) => `{"seq":${seq}}\n`;

/** Starts a broker over `dataDir` with a journal `crash/p`, one acknowledged producer append (seq 0), and a crash point set for the next. */
async function crashOnSecondAppend(dataDir: string, crashAt: string): Promise<void> {
  const setup = await startBroker({ dataDir });
  await createJournal(setup.url, 'crash/p', NDJSON);
  await setup.stop('SIGTERM');
  const b = await startBroker({ dataDir, env: { INLET_CRASH_AT: `${crashAt}:2` } });
  const first = await appendTo(b.url, 'crash/p', doc(0), NDJSON, producer(0));
  if (first.status !== 200) throw new Error(`first append got ${first.status}`);
  await appendTo(b.url, 'crash/p', doc(1), NDJSON, producer(1)).then(
    (res) => {
      throw new Error(`the append was answered (${res.status}): the broker did not crash`);
    },
    () => undefined, // the broker died mid-request: unacknowledged
  );
  if ((await b.stop('SIGKILL')) !== 'SIGKILL') throw new Error('the broker did not die by SIGKILL');
}

test('a producer line fsync\'d whose append\'s bytes were lost (a crash between the two fsyncs) is dropped at restart: the retry is written, not taken for a duplicate', async (t) => {
  const dataDir = await tempDir();
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  await crashOnSecondAppend(dataDir, 'producers.synced');
  // The process died with seq 1's line fsync'd; its bytes sat in the page cache, which a crash of
  // the machine would lose: cut its frame from the spool as such a crash would.
  const dir = join(dataDir, 'journals/crash/p');
  const spool = join(dir, (await readdir(dir)).find((f) => f.endsWith('.spool'))!);
  const file = await readFile(spool);
  const second = FILE_HEADER + FRAME_HEADER + doc(0).length;
  t.is(decodeFrameHeader(file, second)?.begin, doc(0).length, 'seq 1 was written as the second frame');
  await truncate(spool, second);
  t.regex(await readFile(join(dir, '@producers.log'), 'utf8'), /"lastSeq":1/, 'its line was durable');

  const b = await startBroker({ dataDir });
  try {
    const retry = await appendTo(b.url, 'crash/p', doc(1), NDJSON, producer(1));
    t.is(retry.status, 200, 'written, not answered as a duplicate of bytes that are gone');
    t.is(retry.headers.get('inlet-append-begin'), String(doc(0).length));
    t.is((await readAll(b.url, 'crash/p')).toString(), doc(0) + doc(1));
    t.is((await appendTo(b.url, 'crash/p', doc(2), NDJSON, producer(2))).status, 200);
  } finally {
    await b.stop('SIGKILL');
  }
  // And the dropped line stays dropped once the journal has grown past it.
  const b2 = await startBroker({ dataDir });
  try {
    const again = await appendTo(b2.url, 'crash/p', doc(2), NDJSON, producer(2));
    t.is(again.status, 204, 'seq 2 is recognised as a duplicate');
    t.is((await appendTo(b2.url, 'crash/p', doc(3), NDJSON, producer(3))).status, 200);
    t.is((await readAll(b2.url, 'crash/p')).toString(), doc(0) + doc(1) + doc(2) + doc(3));
  } finally {
    await b2.stop('SIGKILL');
  }
});

test('an append whose bytes are durable but whose producer line is not (a crash before the line) was never acknowledged; its retry writes it again', async (t) => {
  const dataDir = await tempDir();
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  await crashOnSecondAppend(dataDir, 'producers.write');
  const b = await startBroker({ dataDir });
  try {
    t.is((await readAll(b.url, 'crash/p')).toString(), doc(0) + doc(1), 'the unacknowledged bytes landed');
    const retry = await appendTo(b.url, 'crash/p', doc(1), NDJSON, producer(1));
    // As with any unacknowledged append retried: the producer's state does not know it, so the
    // journal holds it twice (readers of collections drop the second by its UUID).
    t.is(retry.status, 200);
    t.is((await readAll(b.url, 'crash/p')).toString(), doc(0) + doc(1) + doc(1));
    t.is((await appendTo(b.url, 'crash/p', doc(1), NDJSON, producer(1))).status, 204, 'and from then on it is known');
  } finally {
    await b.stop('SIGKILL');
  }
});
