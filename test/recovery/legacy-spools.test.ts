import test from 'ava';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { appendTo, readAll, ROOT, startBroker, tempDir } from '../helpers/broker.js';

/**
 * A journal dir written by inlet before spool format 2 (`test/fixtures/legacy-spool/j`): six
 * NDJSON appends of 258 bytes with a 1 KiB fragment length, so two spools, each a data file
 * and a side index of commit records; the broker was SIGKILLed after the last append.
 */
const FIXTURE = join(ROOT, 'test/fixtures/legacy-spool/j');

test('a data dir whose spools were written with a separate commit index opens: every byte is served, persisted and appended after', async (t) => {
  const dataDir = await tempDir();
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const dir = join(dataDir, 'journals/legacy/j');
  await mkdir(dir, { recursive: true });
  for (const f of await readdir(FIXTURE)) await copyFile(join(FIXTURE, f), join(dir, f));
  const record = await readFile(join(FIXTURE, '@journal.json'), 'utf8');
  await writeFile(join(dir, '@journal.json'), record.replace('file:///LAKE/', `file://${dataDir}/lake/`));
  const expected = Buffer.concat([await readFile(join(FIXTURE, '@0000000000000000.spool')), await readFile(join(FIXTURE, '@0000000000000306.spool'))]);
  t.is(expected.length, 6 * 258);

  const b = await startBroker({ dataDir });
  try {
    t.deepEqual(await readAll(b.url, 'legacy/j'), expected);
    // Converted: no side index is left, and the sealed spool persists as a fragment of the same bytes.
    t.false((await readdir(dir)).some((f) => f.endsWith('.index')));
    const lake = join(dataDir, 'lake/legacy/j');
    let fragment: string | undefined;
    for (let i = 0; i < 300 && !fragment; i++) {
      const files = (await readdir(lake, { recursive: true }).catch(() => [] as string[])).map(String);
      fragment = files.find((f) => f.endsWith('.gz') && f.includes('0000000000000000-0000000000000306-'));
      if (!fragment) await new Promise((r) => setTimeout(r, 50));
    }
    t.truthy(fragment, 'the sealed spool was persisted');
    const content = gunzipSync(await readFile(join(lake, fragment!)));
    t.deepEqual(content, expected.subarray(0, 0x306));
    t.true(fragment!.includes(createHash('sha1').update(content).digest('hex')));
    const res = await appendTo(b.url, 'legacy/j', '{"after":true}\n', 'application/x-ndjson');
    t.is(res.headers.get('inlet-append-begin'), String(6 * 258));
  } finally {
    await b.stop('SIGKILL');
  }
  const b2 = await startBroker({ dataDir });
  try {
    t.is((await readAll(b2.url, 'legacy/j')).toString(), `${expected.toString()}{"after":true}\n`);
  } finally {
    await b2.stop('SIGKILL');
  }
});
