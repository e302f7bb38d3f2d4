import test from 'ava';
import { rm, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BrokerClient, JournalReader, readDocuments, ReaderError, SelectorReader, type Chunk } from '../src/readers/mod.js';
import { appendTo, startBroker, tempDir, withTempDir, type TestBroker } from './helpers/broker.js';
import { startS3 } from './helpers/s3.js';

const JOURNAL = 'events/kind=seq/pivot=00';
const doc = (seq: number) => `${JSON.stringify({ seq, pad: 'p'.repeat(seq % 60), at: 1_700_000_000 + seq })}\n`;

async function createNdjson(url: string, name = JOURNAL): Promise<void> {
  const res = await fetch(`${url}/v1/stream/${name}`, { method: 'PUT', headers: { 'content-type': 'application/x-ndjson' } });
  if (res.status !== 201 && res.status !== 200) throw new Error(`create ${name}: ${res.status}`);
}

/** Appends docs [from, to) in batches of 1,000, in order. */
async function appendSeq(url: string, from: number, to: number, name = JOURNAL): Promise<void> {
  for (let b = from; b < to; b += 1000) {
    let body = '';
    for (let s = b; s < Math.min(to, b + 1000); s++) body += doc(s);
    const res = await appendTo(url, name, body, 'application/x-ndjson');
    if (res.status !== 204) throw new Error(`append: ${res.status} ${await res.text()}`);
  }
}

/**
 * The acceptance run: 100k documents, a clean stop (every spool persisted), a broker on
 * a wiped data dir over the same store, then a reader from offset 0 while 100k more are appended:
 * all 200k, in order, each exactly once.
 */
async function historyThenLive(t: import('ava').ExecutionContext, storeArgs: string[], env: NodeJS.ProcessEnv, direct: 'auto' | 'never', stores: string[]) {
  const dir = await tempDir();
  const args = [...storeArgs, '--fragment-length', '256KiB'];
  let b2: TestBroker | undefined;
  try {
    const b1 = await startBroker({ dataDir: join(dir, 'd1'), args, env });
    await createNdjson(b1.url);
    await appendSeq(b1.url, 0, 100_000);
    t.is(await b1.stop('SIGTERM'), 0);
    b2 = await startBroker({ dataDir: join(dir, 'd2'), args, env });
    const reader = new JournalReader(new BrokerClient(b2.url), JOURNAL, { offset: 0, follow: true, direct, stores });
    const sources = { store: 0, broker: 0 };
    const counted = (async function* () {
      for await (const c of reader) {
        sources[c.source] += c.data.length;
        yield c;
      }
    })();
    const writer = appendSeq(b2.url, 100_000, 200_000);
    writer.catch(() => undefined); // awaited below; a reader failure must not leave it unhandled
    let next = 0;
    let lastEnd = 0;
    for await (const d of readDocuments<{ seq: number }>(counted)) {
      if (d.doc.seq !== next) t.fail(`expected seq ${next}, got ${d.doc.seq} at offset ${d.begin}`);
      t.is(d.begin, lastEnd);
      lastEnd = d.end;
      next++;
      if (next === 200_000) break;
    }
    await writer;
    t.is(next, 200_000);
    if (direct === 'auto') t.true(sources.store > 5_000_000, `history read from the store: ${JSON.stringify(sources)}`);
    else t.is(sources.store, 0);
    t.true(sources.broker > 0);
  } finally {
    await b2?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

test('a reader turns history in a file store into a live tail: 200k documents, in order, exactly once', async (t) => {
  await withTempDir((dir) => historyThenLive(t, ['--store', `file://${join(dir, 'lake')}/`], {}, 'auto', [`file://${join(dir, 'lake')}/`]));
});

test('a reader turns history in an S3 store into a live tail, reading fragments by presigned URL', async (t) => {
  const s3 = await startS3();
  try {
    await historyThenLive(t, ['--store', s3.storeUrl('readers/')], s3.env, 'auto', [s3.presignedPrefix('readers/')]);
  } finally {
    await s3.cleanup();
  }
});

test('a reader that cannot reach the store reads history through the broker proxy', async (t) => {
  await withTempDir((dir) => historyThenLive(t, ['--store', `file://${join(dir, 'lake')}/`], {}, 'never', [`file://${join(dir, 'lake')}/`]));
});

test('a slow consumer keeps the reader bounded: sources pause instead of buffering', async (t) => {
  const dir = await tempDir();
  const b = await startBroker({ dataDir: join(dir, 'd'), args: ['--store', `file://${join(dir, 'lake')}/`, '--fragment-length', '4MiB'] });
  try {
    await createNdjson(b.url);
    await appendSeq(b.url, 0, 400_000); // ~45 MB
    await b.stop('SIGTERM');
    const b2 = await startBroker({ dataDir: join(dir, 'd2'), args: ['--store', `file://${join(dir, 'lake')}/`] });
    try {
      const it = new JournalReader(new BrokerClient(b2.url), JOURNAL, { stores: [`file://${join(dir, 'lake')}/`] })[Symbol.asyncIterator]();
      const first = await it.next();
      t.false(first.done);
      global.gc?.();
      const before = process.memoryUsage();
      await new Promise((r) => setTimeout(r, 1500)); // the consumer stalls
      const after = process.memoryUsage();
      const grew = after.arrayBuffers + after.heapUsed - (before.arrayBuffers + before.heapUsed);
      t.true(grew < 24e6, `memory grew ${(grew / 1e6).toFixed(1)} MB while the consumer stalled`);
      let bytes = (first.value as Chunk).data.length;
      for (let r = await it.next(); !r.done; r = await it.next()) bytes += r.value.data.length;
      const head = Number((await fetch(`${b2.url}/v1/stream/${JOURNAL}`, { method: 'HEAD' })).headers.get('stream-next-offset')!.split('_')[1]);
      t.is(bytes, head);
    } finally {
      await b2.stop('SIGKILL');
    }
  } finally {
    await b.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

test('a following reader survives a broker restart without a gap or a repeat', async (t) => {
  const dir = await tempDir();
  const args = ['--store', `file://${join(dir, 'lake')}/`];
  let b = await startBroker({ dataDir: join(dir, 'd'), args });
  try {
    await createNdjson(b.url);
    await appendSeq(b.url, 0, 5_000);
    const client = new BrokerClient(b.url);
    const retries: string[] = [];
    const docs = readDocuments<{ seq: number }>(new JournalReader(client, JOURNAL, { follow: true, onRetry: (e) => retries.push(e.message) }));
    let next = 0;
    let restarted: Promise<void> | undefined;
    for await (const d of docs) {
      t.is(d.doc.seq, next++);
      if (next === 5_000) {
        // Kill the broker, and bring it back on the same port only after the reader has found it gone.
        const port = new URL(b.url).port;
        await b.stop('SIGKILL');
        restarted = (async () => {
          while (retries.length === 0) await new Promise((r) => setTimeout(r, 20));
          b = await startBroker({ dataDir: join(dir, 'd'), args: [...args, '--port', port] });
          await appendSeq(b.url, 5_000, 8_000);
        })();
      }
      if (next === 8_000) break;
    }
    await restarted;
    t.is(next, 8_000);
    t.true(retries.length > 0, 'the reader retried while the broker was down');
  } finally {
    await b.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

test('history missing from the store fails clearly, or is skipped and reported when jumps are allowed', async (t) => {
  const dir = await tempDir();
  const lake = join(dir, 'lake');
  const args = ['--store', `file://${lake}/`, '--fragment-length', '64KiB'];
  const b = await startBroker({ dataDir: join(dir, 'd'), args });
  let b2: TestBroker | undefined;
  try {
    await createNdjson(b.url);
    await appendSeq(b.url, 0, 5_000);
    await b.stop('SIGTERM');
    // Lose the first fragment, as if pruned.
    const folder = join(lake, JOURNAL);
    const walk = async (d: string): Promise<string[]> =>
      (await Promise.all((await readdir(d, { withFileTypes: true })).map((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)])))).flat();
    const files = (await walk(folder)).sort((x, y) => x.split('/').pop()!.localeCompare(y.split('/').pop()!));
    const lostEnd = parseInt(files[0]!.split('/').pop()!.split('-')[1]!, 16);
    await unlink(files[0]!);
    b2 = await startBroker({ dataDir: join(dir, 'd2'), args });
    const client = new BrokerClient(b2.url);
    for (const direct of ['auto', 'never'] as const) {
      const err = await t.throwsAsync(async () => {
        for await (const _ of new JournalReader(client, JOURNAL, { direct })) void _;
      });
      t.true(err instanceof ReaderError, String(err));
      t.is((err as ReaderError).code, 'OFFSET_GONE');
      t.regex(err!.message, new RegExp(`offsets \\[0, ${lostEnd}\\)`));
    }
    const jumps: { from: number; to: number }[] = [];
    let first: { begin: number } | undefined;
    let count = 0;
    for await (const d of readDocuments(new JournalReader(client, JOURNAL, { allowJumps: true, onJump: (j) => jumps.push(j) }))) {
      first ??= d;
      count++;
    }
    t.deepEqual(jumps.map((j) => [j.from, j.to]), [[0, lostEnd]]);
    t.is(first!.begin, lostEnd);
    t.true(count > 0 && count < 5_000);
  } finally {
    await b2?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

test('a selector reader reads every matching journal in order and picks up journals created later', async (t) => {
  const b = await startBroker();
  try {
    const names = ['multi/p=a/pivot=00', 'multi/p=b/pivot=00'];
    for (const n of names) {
      await fetch(`${b.url}/v1/journals/apply`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ journals: [{ name: n, contentType: 'application/x-ndjson', labels: { app: 'multi' } }] }),
      });
      await appendSeq(b.url, 0, 3_000, n);
    }
    const seen = new Map<string, number>();
    const reader = new SelectorReader(new BrokerClient(b.url), 'app=multi', { follow: true, discoverEveryMs: 100 });
    let created = false;
    let total = 0;
    for await (const d of readDocuments<{ seq: number }>(reader)) {
      const want = seen.get(d.journal) ?? 0;
      if (d.doc.seq !== want) t.fail(`${d.journal}: expected ${want}, got ${d.doc.seq}`);
      seen.set(d.journal, want + 1);
      total++;
      if (total === 6_000 && !created) {
        created = true;
        await fetch(`${b.url}/v1/journals/apply`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ journals: [{ name: 'multi/p=c/pivot=00', contentType: 'application/x-ndjson', labels: { app: 'multi' } }] }),
        });
        await appendSeq(b.url, 0, 2_000, 'multi/p=c/pivot=00');
      }
      if (total === 8_000) break;
    }
    t.deepEqual(Object.fromEntries(seen), { 'multi/p=a/pivot=00': 3_000, 'multi/p=b/pivot=00': 3_000, 'multi/p=c/pivot=00': 2_000 });
  } finally {
    await b.stop('SIGKILL');
    await rm(b.dataDir, { recursive: true, force: true });
  }
});

test('GET /v1/journals?watch=REVISION answers when a journal is created, updated or deleted, at the long-poll timeout otherwise, and at once for a stale revision', async (t) => {
  // Long enough for a change under load to land within one watch; the idle watch below waits it out.
  const b = await startBroker({ args: ['--long-poll-timeout', '2s'] });
  t.teardown(async () => {
    await b.stop('SIGKILL');
    await rm(b.dataDir, { recursive: true, force: true });
  });
  const client = new BrokerClient(b.url);
  const apply = (labels: Record<string, string>) =>
    fetch(`${b.url}/v1/journals/apply`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ journals: [{ name: 'watched/a', contentType: 'application/x-ndjson', labels }] }),
    });
  const first = await client.watchJournals('app=w', undefined);
  t.deepEqual(first.journals, []);
  t.truthy(first.revision);

  // Nothing changes: the watch answers at the timeout, with the same revision.
  const idle = await client.watchJournals('app=w', first.revision);
  t.is(idle.revision, first.revision);
  t.deepEqual(idle.journals, []);

  // A watch under way is answered by the creation, and lists the new journal.
  const created = client.watchJournals('app=w', first.revision);
  t.is((await apply({ app: 'w' })).status, 200);
  const afterCreate = await created;
  t.deepEqual(afterCreate.journals.map((j) => j.spec.name), ['watched/a']);
  t.not(afterCreate.revision, first.revision);

  // A relabel is a change too; appends are not.
  await appendSeq(b.url, 0, 10, 'watched/a');
  t.is((await client.watchJournals('app=w', afterCreate.revision)).revision, afterCreate.revision);
  const relabelled = client.watchJournals('app=w', afterCreate.revision);
  t.is((await apply({ app: 'w', tier: 'gold' })).status, 200);
  const afterRelabel = await relabelled;
  t.deepEqual(afterRelabel.journals[0]!.spec.labels, { app: 'w', tier: 'gold' });

  const deleted = client.watchJournals('app=w', afterRelabel.revision);
  t.is((await fetch(`${b.url}/v1/stream/watched/a`, { method: 'DELETE' })).status, 204);
  t.not((await deleted).revision, afterRelabel.revision);

  // A revision of another broker's life (or made up) is answered at once.
  t.not((await client.watchJournals('app=w', 'x.1')).revision, 'x.1');
});
