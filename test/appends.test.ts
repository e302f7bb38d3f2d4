import test from 'ava';
import { request } from 'node:http';
import { appendTo, cleanup, createJournal, readAll, startBroker, type TestBroker } from './helpers/broker.js';

let b: TestBroker;
test.before(async () => {
  b = await startBroker({ args: ['--max-append-size', '256KiB'] });
});
test.after.always(async () => cleanup(b));

test('concurrent multi-line appends land contiguously, each acknowledged with its [begin, end)', async (t) => {
  await createJournal(b.url, 'atomic/one', 'application/x-ndjson');
  const writers = 16;
  const perWriter = 25;
  const acks: { begin: number; end: number; body: string }[] = [];
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < perWriter; i++) {
        // Several lines per append, so interleaving would split them.
        const body = Array.from({ length: 20 }, (_, l) => JSON.stringify({ w, i, l, pad: 'x'.repeat((w * 7 + l) % 50) })).join('\n') + '\n';
        const res = await appendTo(b.url, 'atomic/one', body, 'application/x-ndjson');
        t.is(res.status, 204);
        acks.push({ begin: Number(res.headers.get('inlet-append-begin')), end: Number(res.headers.get('inlet-append-end')), body });
      }
    }),
  );
  const all = await readAll(b.url, 'atomic/one');
  t.is(acks.length, writers * perWriter);
  t.is(all.length, acks.reduce((n, a) => n + Buffer.byteLength(a.body), 0));
  for (const a of acks) t.is(all.subarray(a.begin, a.end).toString(), a.body);
  // Acknowledged ranges tile the journal exactly: no gaps, no overlaps.
  const sorted = [...acks].sort((x, y) => x.begin - y.begin);
  sorted.forEach((a, i) => t.is(a.begin, i === 0 ? 0 : sorted[i - 1]!.end));
});

test('an append with a wrong expected offset gets 409 and writes nothing', async (t) => {
  await createJournal(b.url, 'expect/offset');
  t.is((await appendTo(b.url, 'expect/offset', 'abc', undefined, { 'inlet-expect-offset': '0' })).status, 204);
  const res = await appendTo(b.url, 'expect/offset', 'def', undefined, { 'inlet-expect-offset': '0' });
  t.is(res.status, 409);
  const body = (await res.json()) as { error: { code: string; message: string } };
  t.is(body.error.code, 'WRONG_APPEND_OFFSET');
  t.regex(body.error.message, /write head is 3/);
  t.is(res.headers.get('stream-next-offset'), '0000000000000000_0000000000000003');
  t.is((await appendTo(b.url, 'expect/offset', 'ghi', undefined, { 'inlet-expect-offset': '3' })).status, 204);
  t.is((await readAll(b.url, 'expect/offset')).toString(), 'abcghi');
});

test('NDJSON journals refuse an append without a trailing newline, writing nothing', async (t) => {
  await createJournal(b.url, 'nd/newline', 'application/x-ndjson');
  await appendTo(b.url, 'nd/newline', '{"a":1}\n', 'application/x-ndjson');
  const res = await appendTo(b.url, 'nd/newline', '{"a":2}\n{"a":3}', 'application/x-ndjson');
  t.is(res.status, 400);
  const body = (await res.json()) as { error: { code: string; message: string } };
  t.is(body.error.code, 'INVALID_CONTENT');
  t.regex(body.error.message, /must end with a newline/);
  t.is((await readAll(b.url, 'nd/newline')).toString(), '{"a":1}\n');
});

test('validateJson names the first bad line and writes nothing of the append', async (t) => {
  const apply = await fetch(`${b.url}/v1/journals/apply`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ journals: [{ name: 'nd/strict', contentType: 'application/x-ndjson', validateJson: true }] }),
  });
  t.is(apply.status, 200);
  const res = await appendTo(b.url, 'nd/strict', '{"ok":1}\n{"ok":2}\n{oops}\n{"ok":4}\n', 'application/x-ndjson');
  t.is(res.status, 400);
  const body = (await res.json()) as { error: { code: string; message: string; line: number } };
  t.is(body.error.line, 3);
  t.regex(body.error.message, /line 3 of the append is not valid JSON/);
  t.is((await readAll(b.url, 'nd/strict')).length, 0);
});

test('an append over the size limit gets 413 and the broker keeps serving', async (t) => {
  await createJournal(b.url, 'limits/big');
  const res = await appendTo(b.url, 'limits/big', Buffer.alloc(300 * 1024, 7));
  t.is(res.status, 413);
  t.is(((await res.json()) as { error: { code: string } }).error.code, 'PAYLOAD_TOO_LARGE');
  t.is((await appendTo(b.url, 'limits/big', Buffer.alloc(100 * 1024, 7))).status, 204);
  t.is((await readAll(b.url, 'limits/big')).length, 100 * 1024);
});

test('a client that disconnects mid-body leaves no trace', async (t) => {
  await createJournal(b.url, 'torn/body');
  const { hostname, port } = new URL(b.url);
  await new Promise<void>((resolve) => {
    const req = request({ hostname, port, method: 'POST', path: '/v1/stream/torn/body', headers: { 'content-type': 'application/octet-stream', 'content-length': '100000' } });
    req.on('error', () => resolve());
    req.write(Buffer.alloc(50_000, 1), () => {
      req.destroy();
      resolve();
    });
  });
  t.is((await appendTo(b.url, 'torn/body', 'after')).status, 204);
  t.is((await readAll(b.url, 'torn/body')).toString(), 'after');
});

test('bad input gets a JSON error naming the problem', async (t) => {
  const badName = await fetch(`${b.url}/v1/stream/a//b`, { method: 'PUT' });
  t.is(badName.status, 400);
  t.is(((await badName.json()) as { error: { code: string } }).error.code, 'INVALID_JOURNAL_NAME');
  const missing = await appendTo(b.url, 'no/such/journal', 'x');
  t.is(missing.status, 404);
  t.is(((await missing.json()) as { error: { code: string } }).error.code, 'JOURNAL_NOT_FOUND');
  const badOffset = await fetch(`${b.url}/v1/stream/limits/big?offset=abc`);
  t.is(badOffset.status, 400);
  t.is(((await badOffset.json()) as { error: { code: string } }).error.code, 'INVALID_OFFSET');
  const health = await fetch(`${b.url}/healthz`);
  t.is(health.status, 200);
});
