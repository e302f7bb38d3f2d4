import test, { type ExecutionContext } from 'ava';
import { copyFile, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { appendTo, createJournal, readAll, startBroker, streamUrl, tempDir, type TestBroker } from '../helpers/broker.js';
import { flipByte } from '../helpers/files.js';
import { FILE_HEADER, FRAME_HEADER } from '../../src/journal/spool-format.js';

/** Five appends of 10 bytes each: batch i holds offsets [10i, 10i + 10). */
const BATCHES = ['batch-0000', 'batch-0001', 'batch-0002', 'batch-0003', 'batch-0004'];
const SPOOL = '@0000000000000000.spool';
/** The spool file (format 2): a file header, then per batch a commit record (frame header) and its 10 bytes. */
const FRAME = FRAME_HEADER + 10;
const SPOOL_SIZE = FILE_HEADER + BATCHES.length * FRAME;
/** The file position of batch `i`'s commit record. */
const recordAt = (i: number) => FILE_HEADER + i * FRAME;
/** The file position of journal offset `offset`. */
const bytePos = (offset: number) => recordAt(Math.floor(offset / 10)) + FRAME_HEADER + (offset % 10);

/**
 * A data dir whose broker took `damaged/j` (five appends) and `damaged/ok` (one), then was
 * SIGKILLed; `size` is the spool file's then (its frames, then zeros written ahead of them).
 */
async function crashed(t: ExecutionContext): Promise<{ dataDir: string; dir: string; size: number }> {
  const dataDir = await tempDir();
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const b = await startBroker({ dataDir });
  await createJournal(b.url, 'damaged/j');
  await createJournal(b.url, 'damaged/ok');
  for (const batch of BATCHES) t.is((await appendTo(b.url, 'damaged/j', batch)).status, 204);
  t.is((await appendTo(b.url, 'damaged/ok', 'intact')).status, 204);
  await b.stop('SIGKILL');
  const dir = join(dataDir, 'journals/damaged/j');
  const { size } = await stat(join(dir, SPOOL));
  t.true(size >= SPOOL_SIZE);
  return { dataDir, dir, size };
}

async function restart(t: ExecutionContext, dataDir: string): Promise<TestBroker> {
  const b = await startBroker({ dataDir });
  t.teardown(() => b.stop('SIGKILL').then(() => undefined));
  return b;
}

/** Checks that reads, appends and HEAD of the journal answer 503 JOURNAL_FAILED naming `reason`; returns the message. */
async function assertFailed(t: ExecutionContext, b: TestBroker, name: string, reason: RegExp): Promise<string> {
  const read = await fetch(`${streamUrl(b.url, name)}?offset=-1`);
  t.is(read.status, 503);
  const { error } = (await read.json()) as { error: { code: string; message: string } };
  t.is(error.code, 'JOURNAL_FAILED');
  t.regex(error.message, reason);
  t.is((await appendTo(b.url, name, 'more')).status, 503);
  t.is((await fetch(streamUrl(b.url, name), { method: 'HEAD' })).status, 503);
  // Creating it again must not wipe the files kept for the operator.
  t.is((await createJournal(b.url, name)).status, 503);
  return error.message;
}

async function assertOthersServe(t: ExecutionContext, b: TestBroker): Promise<void> {
  t.is((await readAll(b.url, 'damaged/ok')).toString(), 'intact');
  t.is((await appendTo(b.url, 'damaged/ok', '+more')).status, 204);
  t.is((await fetch(`${b.url}/healthz`)).status, 200);
}

test.serial('a corrupt commit record in the middle no longer truncates what follows: the spool is kept whole and the journal fails naming the offsets', async (t) => {
  const { dataDir, dir, size } = await crashed(t);
  await flipByte(join(dir, SPOOL), recordAt(1) + 3); // record of batch 1
  const b = await restart(t, dataDir);
  // Later records claim batch 1 durable, so it was acknowledged; batch 2 is found past it and verifies.
  const message = await assertFailed(t, b, 'damaged/j', /\[10, 20\) unverifiable \(their commit record is corrupt\)/);
  t.regex(message, /offsets \[10, 50\) are not served/);
  await assertOthersServe(t, b);
  // Nothing acknowledged was cut: the spool sits aside whole.
  t.is((await stat(join(dir, `${SPOOL}.damaged`))).size, size);
  t.regex(b.logs(), /"journal":"damaged\/j".*\[10, 20\) unverifiable/);
});

test.serial('a format-1 spool whose commit index is missing is not emptied: every byte is kept and reported unverifiable', async (t) => {
  const { dataDir, dir } = await crashed(t);
  // Format 1 kept the journal's bytes alone in the data file and the commit records beside it.
  await writeFile(join(dir, SPOOL), BATCHES.join(''));
  const b = await restart(t, dataDir);
  await assertFailed(t, b, 'damaged/j', /\[0, 50\) unverifiable \(the commit index is missing\)/);
  await assertOthersServe(t, b);
  t.is((await stat(join(dir, `${SPOOL}.damaged`))).size, 50);
});

test.serial('a flipped byte in the middle of the data is never served', async (t) => {
  const { dataDir, dir } = await crashed(t);
  await flipByte(join(dir, SPOOL), bytePos(25));
  const b = await restart(t, dataDir);
  await assertFailed(t, b, 'damaged/j', /\[20, 30\) corrupt \(bytes do not match their commit checksum\)/);
  await assertOthersServe(t, b);
});

test.serial('a failed journal stays failed after another restart, and the write head never moves back', async (t) => {
  const { dataDir, dir } = await crashed(t);
  await flipByte(join(dir, SPOOL), bytePos(5));
  const first = await restart(t, dataDir);
  await assertFailed(t, first, 'damaged/j', /\[0, 10\) corrupt/);
  await first.stop('SIGKILL');
  const second = await restart(t, dataDir);
  await assertFailed(t, second, 'damaged/j', /\[0, 10\) corrupt.*remove @failed\.json/);
  t.true((await readdir(dir)).includes('@failed.json'));
});

test.serial('a torn unacknowledged tail is still cut, and the cut is logged with its offsets', async (t) => {
  const { dataDir, dir } = await crashed(t);
  // Written where the next frame goes, over the zeros written ahead.
  const fh = await open(join(dir, SPOOL), 'r+');
  await fh.write('half an append', SPOOL_SIZE);
  await fh.close();
  const b = await restart(t, dataDir);
  t.is((await readAll(b.url, 'damaged/j')).toString(), BATCHES.join(''));
  t.regex(b.logs(), /cut offsets \[50, 64\), an append in flight at the crash that was never acknowledged/);
  const res = await appendTo(b.url, 'damaged/j', 'next');
  t.is(res.headers.get('inlet-append-begin'), '50');
});

test.serial('a corrupt journal record fails that journal alone; the broker starts and serves the others', async (t) => {
  const { dataDir, dir, size } = await crashed(t);
  await writeFile(join(dir, '@journal.json'), '{"spec": {"na');
  const b = await restart(t, dataDir);
  await assertFailed(t, b, 'damaged/j', /record @journal\.json is unreadable/);
  await assertOthersServe(t, b);
  t.is((await stat(join(dir, SPOOL))).size, size);
});

test.serial('a gap between spools fails that journal alone; the broker starts and serves the others', async (t) => {
  const { dataDir, dir } = await crashed(t);
  // A spool beginning at 0x100 cannot follow one that ends at 50.
  await copyFile(join(dir, SPOOL), join(dir, '@0000000000000100.spool'));
  const b = await restart(t, dataDir);
  await assertFailed(t, b, 'damaged/j', /offsets \[50, 256\) are missing/);
  await assertOthersServe(t, b);
  t.is((await stat(join(dir, SPOOL))).size, SPOOL_SIZE);
});

test.serial('a start that fails exits with a clear error instead of hanging', async (t) => {
  const dataDir = await tempDir();
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  // The journals folder is a file: nothing under it can be listed.
  await writeFile(join(dataDir, 'journals'), 'not a folder');
  const err = await t.throwsAsync(startBroker({ dataDir }));
  t.regex(err!.message, /broker exited \(\d+\) before listening:[\s\S]*ENOTDIR/);
});
