import test from 'ava';
import { appendFile, copyFile, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { InletError } from '../src/errors.js';
import { OpenFiles } from '../src/journal/open-files.js';
import { Spool } from '../src/journal/spool.js';
import { encodeFileHeader, encodeFrameHeader, FILE_HEADER, FRAME_HEADER, spoolPayload } from '../src/journal/spool-format.js';
import { ROOT, tempDir } from './helpers/broker.js';
import { flipByte } from './helpers/files.js';

const PATH = '@0000000000000064.spool';

/** Writes one batch and waits until it is durable. */
async function commit(s: Spool, text: string): Promise<void> {
  const { durable } = await s.write([Buffer.from(text)], text.length);
  await durable;
}

async function spoolWith(batches: string[]): Promise<{ dir: string; path: string }> {
  const dir = await tempDir();
  const s = await Spool.create(dir, 100, new OpenFiles(Infinity));
  for (const b of batches) await commit(s, b);
  await s.close();
  // Without the zeros written ahead (see the test of them), as the tests below craft their tails.
  await truncate(join(dir, PATH), sizeOf(...batches.map((b) => b.length)));
  return { dir, path: join(dir, PATH) };
}

/** The file size of a spool whose batches have these lengths. */
const sizeOf = (...lengths: number[]) => (lengths.length === 0 ? 0 : FILE_HEADER + lengths.reduce((n, l) => n + FRAME_HEADER + l, 0));

/** A spool file at 100 written byte by byte: frames `[text, durable]` in order, as a crash could leave them. */
async function craft(frames: [string, number][]): Promise<{ dir: string; path: string; at: number[] }> {
  const dir = await tempDir();
  const parts = [encodeFileHeader(100, Date.now())];
  const at: number[] = []; // file position of each frame
  let pos = FILE_HEADER;
  let begin = 100;
  for (const [text, durable] of frames) {
    const payload = Buffer.from(text);
    parts.push(encodeFrameHeader(begin, begin + payload.length, durable, crc32(payload)), payload);
    at.push(pos);
    pos += FRAME_HEADER + payload.length;
    begin += payload.length;
  }
  await writeFile(join(dir, PATH), Buffer.concat(parts));
  return { dir, path: join(dir, PATH), at };
}

const recover = (dir: string, begin = 100) => Spool.recover(dir, begin, new OpenFiles(Infinity));

test('recovery keeps every committed batch and cuts bytes that no commit record covers', async (t) => {
  const { dir, path } = await spoolWith(['alpha', 'beta']);
  await appendFile(path, 'unacknowledged tail');
  const { spool: s, cut } = await recover(dir);
  t.is(s.end, 109);
  t.is(cut, 19);
  t.is((await s.read(100, 100)).toString(), 'alphabeta');
  t.is((await stat(path)).size, sizeOf(5, 4));
  await s.close();
  await rm(dir, { recursive: true });
});

test('reads span frames: the frame headers between batches are never served', async (t) => {
  const { dir } = await spoolWith(['alpha', 'beta', 'gamma', 'delta']);
  const { spool: s } = await recover(dir);
  t.is((await s.read(100, 100)).toString(), 'alphabetagammadelta');
  t.is((await s.read(103, 8)).toString(), 'habetaga');
  t.is((await s.read(105, 4)).toString(), 'beta');
  t.is((await s.read(118, 5)).toString(), 'a');
  t.is((await s.read(119, 5)).length, 0);
  await s.close();
  await rm(dir, { recursive: true });
});

test('recovery drops a last batch whose bytes do not match its record (torn write)', async (t) => {
  const { dir, path } = await spoolWith(['alpha', 'beta']);
  await flipByte(path, sizeOf(5) + FRAME_HEADER + 2); // a byte of "beta"
  const { spool: s, cut } = await recover(dir);
  t.is(s.end, 105);
  t.is(cut, 4);
  t.is((await s.read(100, 100)).toString(), 'alpha');
  t.is((await stat(path)).size, sizeOf(5));
  await s.close();
  await rm(dir, { recursive: true });
});

test('recovery drops a record whose data never reached disk, and the spool continues where it ended', async (t) => {
  const { dir, path } = await spoolWith(['alpha', 'beta', 'gamma']);
  await truncate(path, sizeOf(5, 4, 5) - 3); // "gamma" only partly on disk
  const { spool: s, cut } = await recover(dir);
  t.is(s.end, 109);
  t.is(cut, 5);
  t.is((await s.read(100, 100)).toString(), 'alphabeta');
  await commit(s, 'delta');
  await s.close();
  const { spool: again } = await recover(dir);
  t.is((await again.read(100, 100)).toString(), 'alphabetadelta');
  t.is((await stat(path)).size, sizeOf(5, 4, 5));
  await again.close();
  await rm(dir, { recursive: true });
});

test('recovery drops a torn commit record', async (t) => {
  const { dir, path } = await spoolWith(['alpha', 'beta']);
  await appendFile(path, encodeFrameHeader(109, 114, 109, 0).subarray(0, 11)); // half a record
  const { spool: s } = await recover(dir);
  t.is(s.end, 109);
  t.is((await stat(path)).size, sizeOf(5, 4));
  await s.close();
  await rm(dir, { recursive: true });
});

test('a spool cut back to nothing is an empty file, and its next batch writes the file header again', async (t) => {
  const { dir, path } = await craft([['alpha', 100]]);
  await truncate(path, FILE_HEADER + FRAME_HEADER + 2);
  const { spool: s, cut } = await recover(dir);
  t.deepEqual([s.end, cut], [100, 5]);
  t.is((await stat(path)).size, 0);
  await commit(s, 'again');
  await s.close();
  const { spool: again } = await recover(dir);
  t.is((await again.read(100, 10)).toString(), 'again');
  await again.close();
  await rm(dir, { recursive: true });
});

test('pipelined writes: the next batch is written while the last is being fsync\'d, and they become durable in order', async (t) => {
  const dir = await tempDir();
  const s = await Spool.create(dir, 100, new OpenFiles(Infinity));
  const order: string[] = [];
  const pending: Promise<void>[] = [];
  for (const text of ['one', 'two', 'three', 'four']) {
    const { durable } = await s.write([Buffer.from(text)], text.length);
    pending.push(durable.then(() => void order.push(`${text}@${s.end}`)));
  }
  t.is(s.writeEnd, 115);
  await Promise.all(pending);
  // Each acknowledgement saw at least its own bytes durable, and they came in offset order.
  t.deepEqual(
    order.map((o) => o.split('@')[0]),
    ['one', 'two', 'three', 'four'],
  );
  const ends = order.map((o) => Number(o.split('@')[1]));
  t.true(ends[0]! >= 103 && ends[1]! >= 106 && ends[2]! >= 111 && ends[3] === 115);
  t.is((await s.read(100, 100)).toString(), 'onetwothreefour');
  await s.close();
  await rm(dir, { recursive: true });
});

test('a torn commit record of a pipelined batch: it and the whole batch written behind it are cut, nothing is failed', async (t) => {
  // alpha was durable; beta was being fsync'd when gamma was written behind it (gamma claims
  // only alpha durable), and the crash tore beta's record.
  const { dir, path, at } = await craft([
    ['alpha', 100],
    ['beta', 105],
    ['gamma', 105],
  ]);
  await flipByte(path, at[1]! + 9);
  const { spool: s, cut } = await recover(dir);
  t.is(s.end, 105);
  t.is(cut, 9);
  t.is((await s.read(100, 100)).toString(), 'alpha');
  t.is((await stat(path)).size, sizeOf(5));
  await commit(s, 'delta');
  t.is((await s.read(100, 100)).toString(), 'alphadelta');
  await s.close();
  await rm(dir, { recursive: true });
});

test('a torn payload of a pipelined batch with the batch behind it whole: both are cut', async (t) => {
  const { dir, path, at } = await craft([
    ['alpha', 100],
    ['beta', 105],
    ['gamma', 105],
  ]);
  await flipByte(path, at[1]! + FRAME_HEADER + 1);
  const { spool: s, cut } = await recover(dir);
  t.deepEqual([s.end, cut], [105, 9]);
  await s.close();
  await rm(dir, { recursive: true });
});

test('a torn commit record below what a later record claims durable was acknowledged: the spool is moved aside whole', async (t) => {
  // gamma was written once beta was durable (it claims 109): beta was acknowledged.
  const { dir, path, at } = await craft([
    ['alpha', 100],
    ['beta', 105],
    ['gamma', 109],
  ]);
  await flipByte(path, at[1]! + 9);
  const err = await t.throwsAsync(recover(dir));
  t.is((err as InletError).code, 'JOURNAL_FAILED');
  t.regex(err!.message, /\[105, 109\) unverifiable \(their commit record is corrupt\); offsets \[105, 114\) are not served/);
  t.is((await stat(`${path}.damaged`)).size, sizeOf(5, 4, 5));
  await rm(dir, { recursive: true });
});

test('a last batch that does not match its record while a later record claims it durable was acknowledged: the spool is moved aside whole, not cut', async (t) => {
  const { dir, path } = await spoolWith(['alpha', 'beta', 'next batch']);
  await flipByte(path, sizeOf(5) + FRAME_HEADER + 2); // a byte of "beta"
  const err = await t.throwsAsync(recover(dir));
  t.is((err as InletError).code, 'JOURNAL_FAILED');
  t.regex(err!.message, /\[105, 109\) corrupt \(bytes do not match their commit checksum\); offsets \[105, 119\) are not served/);
  t.is((await stat(`${path}.damaged`)).size, sizeOf(5, 4, 10));
  await rm(dir, { recursive: true });
});

test('a spool whose files the open-files cap closed reopens them on its next read and commit', async (t) => {
  const files = new OpenFiles(1);
  const dir = await tempDir();
  const a = await Spool.create(dir, 0, files);
  const b = await Spool.create(dir, 1000, files);
  t.is(files.size, 1);
  await commit(a, 'one');
  await commit(b, 'two');
  t.is(files.size, 1);
  t.is((await a.read(0, 10)).toString(), 'one');
  await commit(a, '!');
  t.is((await b.read(1000, 10)).toString(), 'two');
  t.is((await a.read(0, 10)).toString(), 'one!');
  t.is(files.size, 1);
  await Promise.all([a.close(), b.close()]);
  t.is(files.size, 0);
  await rm(dir, { recursive: true });
});

test('the compression worker reads a spool\'s journal bytes without its frame headers', async (t) => {
  const batches = Array.from({ length: 300 }, (_, i) => `${i}:${'x'.repeat((i * 7919) % 9000)}\n`);
  const { dir, path } = await spoolWith(batches);
  const whole = batches.join('');
  const chunks: Buffer[] = [];
  for await (const c of spoolPayload(path, whole.length)) chunks.push(c);
  t.is(Buffer.concat(chunks).toString(), whole);
  const prefix: Buffer[] = [];
  for await (const c of spoolPayload(path, 1000)) prefix.push(c);
  t.is(Buffer.concat(prefix).toString(), whole.slice(0, 1000));
  await rm(dir, { recursive: true });
});

const FIXTURE = join(ROOT, 'test/fixtures/legacy-spool/j');
/** The second spool of the fixture, written by inlet's format 1: three batches, [0x306, 0x60c). */
const LEGACY = '@0000000000000306.spool';

test('a format-1 spool (data file and side index) is converted at recovery, its bytes and later appends intact', async (t) => {
  const dir = await tempDir();
  await copyFile(join(FIXTURE, LEGACY), join(dir, LEGACY));
  await copyFile(join(FIXTURE, `${LEGACY}.index`), join(dir, `${LEGACY}.index`));
  const original = await readFile(join(FIXTURE, LEGACY));
  const { spool: s, cut } = await recover(dir, 0x306);
  t.deepEqual([s.end, cut], [0x60c, 0]);
  t.deepEqual(await s.read(0x306, 10_000), original);
  t.deepEqual(await readdir(dir), [LEGACY]);
  t.true(s.firstAppendAt! > 0);
  await commit(s, 'after\n');
  await s.close();
  const { spool: again } = await recover(dir, 0x306);
  t.is((await again.read(0x306, 10_000)).toString(), `${original.toString()}after\n`);
  await again.close();
  await rm(dir, { recursive: true });
});

test('a format-1 spool with an unacknowledged tail has it cut when converted', async (t) => {
  const dir = await tempDir();
  await copyFile(join(FIXTURE, LEGACY), join(dir, LEGACY));
  await copyFile(join(FIXTURE, `${LEGACY}.index`), join(dir, `${LEGACY}.index`));
  await appendFile(join(dir, LEGACY), 'half an append');
  const { spool: s, cut } = await recover(dir, 0x306);
  t.deepEqual([s.end, cut], [0x60c, 14]);
  await s.close();
  await rm(dir, { recursive: true });
});

test('a damaged format-1 spool is moved aside whole with its index, not converted', async (t) => {
  const dir = await tempDir();
  await copyFile(join(FIXTURE, LEGACY), join(dir, LEGACY));
  await copyFile(join(FIXTURE, `${LEGACY}.index`), join(dir, `${LEGACY}.index`));
  await flipByte(join(dir, LEGACY), 10); // the first of three batches
  const err = await t.throwsAsync(recover(dir, 0x306));
  t.is((err as InletError).code, 'JOURNAL_FAILED');
  t.regex(err!.message, /\[774, 1032\) corrupt/);
  t.deepEqual((await readdir(dir)).sort(), [`${LEGACY}.damaged`, `${LEGACY}.index.damaged`]);
  await rm(dir, { recursive: true });
});

test('a conversion cut short before its rename is done again; one cut short after it leaves a stale index that is removed', async (t) => {
  const dir = await tempDir();
  await copyFile(join(FIXTURE, LEGACY), join(dir, LEGACY));
  await copyFile(join(FIXTURE, `${LEGACY}.index`), join(dir, `${LEGACY}.index`));
  await writeFile(join(dir, `${LEGACY}.convert.tmp`), 'half a conversion');
  const { spool: s } = await recover(dir, 0x306);
  await s.close();
  t.deepEqual(await readdir(dir), [LEGACY]);
  // As if the rename had happened and the index's removal not.
  await copyFile(join(FIXTURE, `${LEGACY}.index`), join(dir, `${LEGACY}.index`));
  const { spool: again } = await recover(dir, 0x306);
  t.deepEqual(await again.read(0x306, 10_000), await readFile(join(FIXTURE, LEGACY)));
  await again.close();
  t.deepEqual(await readdir(dir), [LEGACY]);
  await rm(dir, { recursive: true });
});

test('small batches write zeros ahead of them, which are no frames: recovery cuts them without reporting a cut, and a batch torn inside them is cut as in flight', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, PATH);
  const s = await Spool.create(dir, 100, new OpenFiles(Infinity));
  await commit(s, 'alpha');
  await commit(s, 'beta');
  await s.close();
  t.true((await stat(path)).size > sizeOf(5, 4), 'zeros were written ahead');
  const { spool: again, cut } = await recover(dir);
  t.deepEqual([again.end, cut], [109, 0]);
  t.is((await stat(path)).size, sizeOf(5, 4));
  await commit(again, 'gamma');
  await again.close();
  // A crash tore the header of "gamma": its payload sits in the zeros written ahead.
  await flipByte(path, sizeOf(5, 4) + 2);
  const { spool: third, cut: cut3 } = await recover(dir);
  // Counted as the bytes no record covers (its header's too), as at the end of a file without zeros.
  t.deepEqual([third.end, cut3], [109, FRAME_HEADER + 5]);
  t.is((await third.read(100, 100)).toString(), 'alphabeta');
  await third.close();
});
