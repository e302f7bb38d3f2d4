import test from 'ava';
import { appendTo, cleanup, createJournal, readAll, startBroker, type TestBroker } from './helpers/broker.js';

let b: TestBroker;
test.before(async () => {
  // A long timeout: a reader that is not woken by the commit would hang past the test's patience.
  b = await startBroker({ args: ['--long-poll-timeout', '60s', '--max-read-size', '64KiB'] });
});
test.after.always(async () => cleanup(b));

/** Waits until the broker reports at least `n` long-polls waiting (so appends cannot race ahead of them). */
async function waitForReaders(n: number): Promise<void> {
  for (;;) {
    const text = await (await fetch(`${b.url}/metrics`)).text();
    if (Number(text.match(/inlet_readers\{mode="long-poll"\} (\d+)/)?.[1] ?? 0) >= n) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const OFF = (n: number) => `0000000000000000_${String(n).padStart(16, '0')}`;

test('reads start at any offset, at -1 (the beginning) or at now (the write head)', async (t) => {
  await createJournal(b.url, 'reads/offsets', 'text/plain');
  await appendTo(b.url, 'reads/offsets', 'hello world', 'text/plain');
  const at6 = await fetch(`${b.url}/v1/stream/reads/offsets?offset=${OFF(6)}`);
  t.is(await at6.text(), 'world');
  const plain = await fetch(`${b.url}/v1/stream/reads/offsets?offset=6`);
  t.is(await plain.text(), 'world');
  t.is(await (await fetch(`${b.url}/v1/stream/reads/offsets?offset=-1`)).text(), 'hello world');
  const now = await fetch(`${b.url}/v1/stream/reads/offsets?offset=now`);
  t.is(await now.text(), '');
  t.is(now.headers.get('stream-next-offset'), OFF(11));
  t.is(now.headers.get('stream-up-to-date'), 'true');
});

test('catch-up reads page through history in bounded responses, never splitting an NDJSON line', async (t) => {
  await createJournal(b.url, 'reads/paged', 'application/x-ndjson');
  const lines = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ i, s: 'y'.repeat(i % 90) })).join('\n') + '\n';
  t.is((await appendTo(b.url, 'reads/paged', lines, 'application/x-ndjson')).status, 204);
  let offset = '-1';
  let pages = 0;
  let got = '';
  for (;;) {
    const res = await fetch(`${b.url}/v1/stream/reads/paged?offset=${offset}`);
    const text = await res.text();
    t.true(text === '' || text.endsWith('\n'));
    got += text;
    pages++;
    offset = res.headers.get('stream-next-offset')!;
    if (res.headers.get('stream-up-to-date') === 'true') break;
  }
  t.true(pages > 2);
  t.is(got, lines);
});

test('a long-poll at the write head is woken by the next commit', async (t) => {
  await createJournal(b.url, 'reads/longpoll', 'text/plain');
  const pending = fetch(`${b.url}/v1/stream/reads/longpoll?offset=now&live=long-poll`);
  await waitForReaders(1);
  await appendTo(b.url, 'reads/longpoll', 'ping', 'text/plain');
  const res = await pending;
  t.is(res.status, 200);
  t.is(await res.text(), 'ping');
  t.is(res.headers.get('stream-next-offset'), OFF(4));
});

test('a thousand tailing readers are all woken by one append', async (t) => {
  await createJournal(b.url, 'reads/fanout', 'text/plain');
  const readers = Array.from({ length: 1000 }, () =>
    fetch(`${b.url}/v1/stream/reads/fanout?offset=${OFF(0)}&live=long-poll`).then(async (r) => ({ status: r.status, body: await r.text() })),
  );
  await waitForReaders(1000);
  await appendTo(b.url, 'reads/fanout', 'wake', 'text/plain');
  const results = await Promise.all(readers);
  t.true(results.every((r) => r.status === 200 && r.body === 'wake'));
});

test('SSE delivers history then live appends, each data event followed by a control event', async (t) => {
  await createJournal(b.url, 'reads/sse', 'text/plain');
  await appendTo(b.url, 'reads/sse', 'first', 'text/plain');
  const ac = new AbortController();
  const res = await fetch(`${b.url}/v1/stream/reads/sse?offset=-1&live=sse`, { signal: ac.signal });
  t.is(res.headers.get('content-type'), 'text/event-stream');
  const reader = res.body!.getReader();
  let text = '';
  const until = async (s: string) => {
    while (!text.includes(s)) text += new TextDecoder().decode((await reader.read()).value);
  };
  await until('"upToDate":true');
  await appendTo(b.url, 'reads/sse', 'second', 'text/plain');
  await until('data:second');
  ac.abort();
  const events = text.split('\n\n').filter(Boolean).map((e) => e.split('\n')[0]);
  t.deepEqual(events.slice(0, 4), ['event: data', 'event: control', 'event: data', 'event: control']);
  t.regex(text, /"streamNextOffset":"0000000000000000_0000000000000011"/);
});

test('metrics report appends, bytes, fsync latency, readers and write heads', async (t) => {
  await createJournal(b.url, 'reads/metrics');
  await appendTo(b.url, 'reads/metrics', 'abcd');
  const text = await (await fetch(`${b.url}/metrics`)).text();
  t.regex(text, /inlet_appends_total\{journal="reads\/metrics"\} 1/);
  t.regex(text, /inlet_append_bytes_total\{journal="reads\/metrics"\} 4/);
  t.regex(text, /inlet_commit_fsync_seconds_count \d+/);
  t.regex(text, /inlet_write_head_bytes\{journal="reads\/metrics"\} 4/);
  t.is((await readAll(b.url, 'reads/metrics')).toString(), 'abcd');
});
