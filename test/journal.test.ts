import test from 'ava';
import { rm } from 'node:fs/promises';
import { Journal } from '../src/journal/journal.js';
import type { JournalSpec } from '../src/journal/spec.js';
import { appendTo, cleanup, createJournal, readAll, startBroker, tempDir } from './helpers/broker.js';

const spec = (length: number): JournalSpec => ({
  name: 'unit/j',
  labels: {},
  contentType: 'application/octet-stream',
  validateJson: false,
  fragment: { length, codec: 'gzip', flushInterval: '1h', pathPostfixTemplate: '', stores: ['file:///tmp/unused/'], refreshInterval: '5m', retention: '0s' },
});
const bytes = (s: string) => ({ chunks: [Buffer.from(s)], length: s.length });

test('spools persisted out of order are released oldest first, so the write head never moves back', async (t) => {
  // Regression: releasing a newer spool first moved the write head back to the older one's end.
  const dir = await tempDir();
  const j = await Journal.open(spec(1024), dir);
  try {
    await j.append(bytes('a'.repeat(1000))); // spool A [0, 1000)
    await j.append(bytes('b'.repeat(100))); // rolls: A sealed, spool B [1000, 1100)
    const b = await j.seal();
    const [a] = j.sealedSpools;
    t.is(a!.end, 1000);
    t.is(b!.end, 1100);
    j.release(b!, 0);
    t.is(j.head, 1100);
    t.is(j.localBegin, 0, 'A is still local, so B stays too');
    j.release(a!, 0);
    t.is(j.head, 1100);
    t.is(j.localBegin, 1100);
    const r = await j.append(bytes('c'));
    t.deepEqual([r.begin, r.end], [1100, 1101]);
  } finally {
    await j.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('idempotent producer state survives a broker crash: a retried append is not written twice', async (t) => {
  const b = await startBroker();
  try {
    await createJournal(b.url, 'prod/j', 'text/plain');
    const h = (seq: number) => ({ 'producer-id': 'p1', 'producer-epoch': '0', 'producer-seq': String(seq) });
    t.is((await appendTo(b.url, 'prod/j', 'zero;', 'text/plain', h(0))).status, 200);
    await b.stop('SIGKILL');
    const b2 = await startBroker({ dataDir: b.dataDir });
    try {
      const retry = await appendTo(b2.url, 'prod/j', 'zero;', 'text/plain', h(0));
      t.is(retry.status, 204);
      t.is(retry.headers.get('producer-seq'), '0');
      t.is((await appendTo(b2.url, 'prod/j', 'one;', 'text/plain', h(1))).status, 200);
      t.is((await readAll(b2.url, 'prod/j')).toString(), 'zero;one;');
    } finally {
      await b2.stop('SIGKILL');
    }
  } finally {
    await cleanup(b);
  }
});
