import test from 'ava';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { InletError } from '../src/errors.js';
import { Journal, type AppendRequest } from '../src/journal/journal.js';
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

test.serial('a failed fdatasync fails its batch and every batch written behind it, undone newest first; the head never passes durable bytes', async (t) => {
  const dir = await tempDir();
  const j = await Journal.open(spec(1 << 20), dir);
  const events: string[] = [];
  // Fault injection: a disk error cannot be had on demand, so the next fdatasync of this process
  // fails with EIO, once two more batches were written behind the one it covers.
  const probe = await open(join(dir, 'probe'), 'w');
  const FileHandle = Object.getPrototypeOf(probe) as { datasync(this: FileHandle): Promise<void> };
  await probe.close();
  const datasync = FileHandle.datasync;
  let armed = false;
  FileHandle.datasync = async function (this: FileHandle) {
    if (!armed) return datasync.call(this);
    armed = false;
    while (!events.includes('duplicate c')) await new Promise((r) => setImmediate(r));
    throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
  };
  const outcomes: Promise<string>[] = [];
  const append = (req: AppendRequest) => outcomes.push(j.append(req).then(() => 'acknowledged', (e: InletError) => e.code));
  const tracked = (name: string, text: string, then?: () => void): AppendRequest => ({
    ...bytes(text),
    precondition: () => {
      events.push(`apply ${name}`);
      then?.(); // appended now, it goes into the next batch, written behind this one
    },
    onCommit: () => events.push(`commit ${name}`),
    onFail: () => events.push(`undo ${name}`),
  });
  try {
    await j.append(bytes('durable'));
    armed = true;
    // Batch 1: a and d. Batch 2: b. Batch 3: c, a retry recognised as a duplicate (no bytes).
    append(
      tracked('a', 'aaa', () =>
        append(
          tracked('b', 'bbb', () =>
            append({ ...bytes(''), precondition: (head) => (events.push('duplicate c'), { begin: head, end: head }), onFail: () => events.push('undo c') }),
          ),
        ),
      ),
    );
    append(tracked('d', 'ddd'));
    while (outcomes.length < 4) await new Promise((r) => setImmediate(r));
    t.deepEqual(await Promise.all(outcomes), ['IO_ERROR', 'IO_ERROR', 'IO_ERROR', 'IO_ERROR']);
    t.deepEqual(events, ['apply a', 'apply d', 'apply b', 'duplicate c', 'undo c', 'undo b', 'undo d', 'undo a']);
    t.is(j.head, 7);
    const r = await j.append(bytes('e'));
    t.deepEqual([r.begin, r.end], [7, 8]);
    t.is((await j.read(0, 100)).toString(), 'durablee');
  } finally {
    FileHandle.datasync = datasync;
    await j.close();
  }
  const again = await Journal.open(spec(1 << 20), dir);
  t.is((await again.read(0, 100)).toString(), 'durablee');
  await again.close();
  await rm(dir, { recursive: true, force: true });
});

test('a batch of duplicates behind a batch in flight is acknowledged only after it, in order', async (t) => {
  const dir = await tempDir();
  const j = await Journal.open(spec(1 << 20), dir);
  try {
    const order: string[] = [];
    const first = j.append({
      ...bytes('x'.repeat(100_000)),
      precondition: () => {
        // Appended while the first batch is prepared: the next batch, of no bytes.
        void j.append({ ...bytes(''), precondition: (head) => ({ begin: head, end: head }) }).then(() => order.push('duplicate'));
      },
    });
    await first.then(() => order.push('first'));
    await j.drain();
    t.deepEqual(order, ['first', 'duplicate']);
  } finally {
    await j.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test.serial('an undo that returns a promise holds back every later batch until it settles; one that fails makes the journal refuse appends with its error', async (t) => {
  const dir = await tempDir();
  const j = await Journal.open(spec(1 << 20), dir);
  const probe = await open(join(dir, 'probe'), 'w');
  const FileHandle = Object.getPrototypeOf(probe) as { datasync(this: FileHandle): Promise<void> };
  await probe.close();
  const datasync = FileHandle.datasync;
  let failNext = false;
  FileHandle.datasync = async function (this: FileHandle) {
    if (!failNext) return datasync.call(this);
    failNext = false;
    throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
  };
  const turns = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
  };
  const events: string[] = [];
  try {
    await j.append(bytes('durable'));
    let release!: () => void;
    failNext = true;
    const failed = j.append({
      ...bytes('aaa'),
      onWritten: (r) => events.push(`written a [${r.begin}, ${r.end})`),
      onFail: () => new Promise<void>((resolve) => ((release = resolve), events.push('undo a'))),
    });
    await t.throwsAsync(failed, { code: 'IO_ERROR' });
    const next = j.append({ ...bytes('b'), precondition: () => void events.push('apply b') });
    await turns(20);
    t.deepEqual(events, ['written a [7, 10)', 'undo a'], 'the next batch waits for the undo');
    release();
    t.deepEqual(await next, { begin: 7, end: 8 });

    failNext = true;
    await t.throwsAsync(j.append({ ...bytes('ccc'), onFail: () => Promise.reject(new Error('the undo failed')) }), { code: 'IO_ERROR' });
    await t.throwsAsync(j.append(bytes('d')), { message: 'the undo failed' });
    t.is(j.head, 8);
  } finally {
    FileHandle.datasync = datasync;
    await j.close();
    await rm(dir, { recursive: true, force: true });
  }
});
