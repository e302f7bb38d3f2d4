import test from 'ava';
import { appendFile, open, readFile, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { Spool } from '../src/journal/spool.js';
import { tempDir } from './helpers/broker.js';

async function spoolWith(batches: string[]): Promise<{ dir: string; path: string }> {
  const dir = await tempDir();
  const s = await Spool.create(dir, 100);
  for (const b of batches) await s.commit([Buffer.from(b)], b.length);
  await s.close();
  return { dir, path: join(dir, '@0000000000000064.spool') };
}

test('recovery keeps every committed batch and cuts bytes that no commit record covers', async (t) => {
  const { dir, path } = await spoolWith(['alpha', 'beta']);
  await appendFile(path, 'unacknowledged tail');
  const s = await Spool.recover(dir, 100);
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
  const s = await Spool.recover(dir, 100);
  t.is(s.end, 105);
  t.is((await readFile(path)).toString(), 'alpha');
  await s.close();
  await rm(dir, { recursive: true });
});

test('recovery drops a torn commit record and a record whose data never reached disk', async (t) => {
  const { dir, path } = await spoolWith(['alpha', 'beta', 'gamma']);
  await appendFile(`${path}.index`, Buffer.from([1, 2, 3])); // half a record
  await truncate(path, 12); // "gamma" only partly on disk
  const s = await Spool.recover(dir, 100);
  t.is(s.end, 109);
  t.is((await stat(`${path}.index`)).size, 32);
  t.is((await s.read(100, 100)).toString(), 'alphabeta');
  // The spool continues where recovery ended.
  await s.commit([Buffer.from('delta')], 5);
  await s.close();
  const again = await Spool.recover(dir, 100);
  t.is((await again.read(100, 100)).toString(), 'alphabetadelta');
  await again.close();
  await rm(dir, { recursive: true });
});
