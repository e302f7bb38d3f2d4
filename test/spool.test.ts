import test from 'ava';
import { appendFile, open, readFile, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { InletError } from '../src/errors.js';
import { OpenFiles } from '../src/journal/open-files.js';
import { Spool } from '../src/journal/spool.js';
import { tempDir } from './helpers/broker.js';

async function spoolWith(batches: string[]): Promise<{ dir: string; path: string }> {
  const dir = await tempDir();
  const s = await Spool.create(dir, 100, new OpenFiles(Infinity));
  for (const b of batches) await s.commit([Buffer.from(b)], b.length);
  await s.close();
  return { dir, path: join(dir, '@0000000000000064.spool') };
}

test('recovery keeps every committed batch and cuts bytes that no commit record covers', async (t) => {
  const { dir, path } = await spoolWith(['alpha', 'beta']);
  await appendFile(path, 'unacknowledged tail');
  const { spool: s } = await Spool.recover(dir, 100, new OpenFiles(Infinity));
  t.is(s.end, 109);
  t.is((await s.read(100, 100)).toString(), 'alphabeta');
  t.is((await stat(path)).size, 9);
  await s.close();
  await rm(dir, { recursive: true });
});

test('recovery drops a last batch whose bytes do not match its record (torn write)', async (t) => {
  const { dir, path } = await spoolWith(['alpha', 'beta']);
  const fh = await open(path, 'r+');
  await fh.write(Buffer.from('X'), 0, 1, 7); // corrupt a byte of "beta"
  await fh.close();
  const { spool: s } = await Spool.recover(dir, 100, new OpenFiles(Infinity));
  t.is(s.end, 105);
  t.is((await readFile(path)).toString(), 'alpha');
  await s.close();
  await rm(dir, { recursive: true });
});

test('recovery drops a record whose data never reached disk, and the spool continues where it ended', async (t) => {
  const { dir, path } = await spoolWith(['alpha', 'beta', 'gamma']);
  await truncate(path, 12); // "gamma" only partly on disk
  const { spool: s, cut } = await Spool.recover(dir, 100, new OpenFiles(Infinity));
  t.is(s.end, 109);
  t.is(cut, 3);
  t.is((await stat(`${path}.index`)).size, 32);
  t.is((await s.read(100, 100)).toString(), 'alphabeta');
  await s.commit([Buffer.from('delta')], 5);
  await s.close();
  const { spool: again } = await Spool.recover(dir, 100, new OpenFiles(Infinity));
  t.is((await again.read(100, 100)).toString(), 'alphabetadelta');
  await again.close();
  await rm(dir, { recursive: true });
});

test('recovery drops a torn commit record', async (t) => {
  const { dir, path } = await spoolWith(['alpha', 'beta']);
  await appendFile(`${path}.index`, Buffer.from([1, 2, 3])); // half a record
  const { spool: s } = await Spool.recover(dir, 100, new OpenFiles(Infinity));
  t.is(s.end, 109);
  t.is((await stat(`${path}.index`)).size, 32);
  await s.close();
  await rm(dir, { recursive: true });
});

test('a spool whose files the open-files cap closed reopens them on its next read and commit', async (t) => {
  const files = new OpenFiles(1);
  const dir = await tempDir();
  const a = await Spool.create(dir, 0, files);
  const b = await Spool.create(dir, 1000, files);
  t.is(files.size, 1);
  await a.commit([Buffer.from('one')], 3);
  await b.commit([Buffer.from('two')], 3);
  t.is(files.size, 1);
  t.is((await a.read(0, 10)).toString(), 'one');
  await a.commit([Buffer.from('!')], 1);
  t.is((await b.read(1000, 10)).toString(), 'two');
  t.is((await a.read(0, 10)).toString(), 'one!');
  t.is(files.size, 1);
  await Promise.all([a.close(), b.close()]);
  t.is(files.size, 0);
  await rm(dir, { recursive: true });
});

test('a last batch that does not match its record while later bytes follow it was acknowledged: the spool is moved aside whole, not cut', async (t) => {
  const { dir, path } = await spoolWith(['alpha', 'beta']);
  const fh = await open(path, 'r+');
  await fh.write(Buffer.from('X'), 0, 1, 7); // corrupt a byte of "beta"
  await fh.close();
  await appendFile(path, 'next batch in flight'); // written only once "beta" was durable
  const err = await t.throwsAsync(Spool.recover(dir, 100, new OpenFiles(Infinity)));
  t.is((err as InletError).code, 'JOURNAL_FAILED');
  t.regex(err!.message, /\[105, 109\) corrupt .*\[109, 129\) unverifiable \(no commit record covers them\)/);
  t.is((await stat(`${path}.damaged`)).size, 29);
  t.is((await stat(`${path}.index.damaged`)).size, 32);
  await rm(dir, { recursive: true });
});
