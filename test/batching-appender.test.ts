import test from 'ava';
import { BrokerClient } from '../src/client/broker-client.js';
import { InletError } from '../src/errors.js';
import { cleanup, readAll, startBroker } from './helpers/broker.js';
import { lossyProxy } from './helpers/lossy-proxy.js';

const SPEC = { name: 'batch/out', labels: {}, contentType: 'application/x-ndjson' };

/** A real client that counts the appends it sends. */
class CountingClient extends BrokerClient {
  appends = 0;
  override append(...args: Parameters<BrokerClient['append']>): ReturnType<BrokerClient['append']> {
    this.appends++;
    return super.append(...args);
  }
}

test('many concurrent callers share few appends; each gets its own offsets; all data once, in order per caller', async (t) => {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  const client = new CountingClient(b.url);
  const batcher = client.batching();
  await batcher.ensure(SPEC);
  const callers = 50;
  const perCaller = 20;
  const got = new Map<string, { begin: number; end: number }>();
  await Promise.all(
    Array.from({ length: callers }, async (_, c) => {
      for (let i = 0; i < perCaller; i++) {
        const doc = JSON.stringify({ c, i });
        got.set(doc, await batcher.append('batch/out', doc));
      }
    }),
  );
  // One append per tick: every caller's i-th document goes out together.
  t.true(client.appends <= perCaller + 2, `${client.appends} appends for ${callers * perCaller} documents`);
  const data = await readAll(b.url, 'batch/out');
  const lines = data.toString().trimEnd().split('\n');
  t.is(lines.length, callers * perCaller);
  t.is(new Set(lines).size, lines.length);
  // Each caller's offsets point at its own document.
  for (const [doc, o] of got) t.is(data.subarray(o.begin, o.end).toString(), `${doc}\n`);
  const next = new Array<number>(callers).fill(0);
  for (const line of lines) {
    const { c, i } = JSON.parse(line) as { c: number; i: number };
    t.is(i, next[c]);
    next[c]!++;
  }
});

test('maxDocs splits a tick into several appends; linger gathers documents across ticks', async (t) => {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  const client = new CountingClient(b.url);
  const small = client.batching({ maxDocs: 10 });
  await small.ensure(SPEC);
  const offsets = await Promise.all(Array.from({ length: 35 }, (_, i) => small.append('batch/out', `{"n":${i}}`)));
  t.is(client.appends, 4);
  t.deepEqual(offsets.map((o) => o.begin), [...offsets.keys()].map((i) => offsets.slice(0, i).reduce((s, o) => s + o.end - o.begin, 0)));

  const c2 = new CountingClient(b.url);
  const lingerer = c2.batching({ linger: 50 });
  const first = lingerer.append('batch/out', '{"late":1}');
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  const second = lingerer.append('batch/out', '{"late":2}');
  const [a, z] = await Promise.all([first, second]);
  t.is(c2.appends, 1);
  t.is(z.begin, a.end);
});

test('a refusal reaches every caller of the batch, and nothing of it is written', async (t) => {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  const client = new CountingClient(b.url);
  const batcher = client.batching({ attempts: 2, policy: { baseMs: 1, maxMs: 1 } });
  // No such journal: the broker answers 404 to the one append.
  const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => batcher.append('batch/missing', `{"n":${i}}`)));
  t.is(client.appends, 1);
  for (const r of results) {
    t.is(r.status, 'rejected');
    const err = (r as PromiseRejectedResult).reason as unknown;
    t.true(err instanceof InletError && err.code === 'JOURNAL_NOT_FOUND', String(err));
  }
  // A closed journal: its refusal too reaches every caller; the journal keeps what it had.
  await batcher.ensure(SPEC);
  await batcher.append('batch/out', '{"n":0}');
  const res = await fetch(client.streamUrl('batch/out'), { method: 'POST', headers: { 'stream-closed': 'true', 'content-type': 'application/x-ndjson' } });
  t.true(res.ok, String(res.status));
  const refused = await Promise.allSettled([1, 2, 3].map((i) => batcher.append('batch/out', `{"n":${i}}`)));
  const reasons = refused.map((r) => (r.status === 'rejected' ? (r.reason as InletError).code : 'fulfilled'));
  t.is(new Set(reasons).size, 1, reasons.join());
  t.not(reasons[0], 'fulfilled');
  t.is((await readAll(b.url, 'batch/out')).toString(), '{"n":0}\n');
});

test('callers of a batch whose answer was lost get their own offsets from the retry, though another writer appended in between (regression: the head)', async (t) => {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  const direct = new BrokerClient(b.url);
  // The first batch is written, another writer appends behind it, then its answer is lost.
  const proxy = await lossyProxy(t, b.url, () => direct.append('batch/out', Buffer.from('{"other":1}\n'), 'application/x-ndjson'));
  const retries: unknown[] = [];
  const batcher = new BrokerClient(proxy).batching({
    attempts: 5,
    policy: { baseMs: 1, maxMs: 5 },
    onRetry: (err) => retries.push(err),
  });
  await batcher.ensure(SPEC);
  const [a, c] = await Promise.all([batcher.append('batch/out', '{"n":1}'), batcher.append('batch/out', '{"n":2}')]);
  t.is(retries.length, 1, 'the lost answer was retried');
  t.deepEqual([a, c], [{ begin: 0, end: 8 }, { begin: 8, end: 16 }]);
  t.is((await readAll(b.url, 'batch/out')).toString(), '{"n":1}\n{"n":2}\n{"other":1}\n');
});
