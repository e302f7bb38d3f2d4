import test, { type ExecutionContext } from 'ava';
import { readdir } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { appendTo, cleanup, createJournal, readAll, ROOT, startBroker, streamUrl, type TestBroker } from '../helpers/broker.js';
import { ingest } from '../helpers/collections.js';

async function broker(t: ExecutionContext, args: string[]): Promise<TestBroker> {
  const b = await startBroker({ args });
  t.teardown(() => cleanup(b));
  return b;
}

/** A raw connection to the broker, collecting what it answers until it closes. */
function rawConnection(url: string): Promise<{ socket: Socket; answer(): string; closed: Promise<void> }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('connect', () => resolve({ socket, answer: () => answer, closed }));
    socket.once('error', reject);
  });
}

/** Sends the head of a POST that declares `length` body bytes, and `sent` of them. */
function startAppend(url: string, journal: string, length: number, sent: number): Promise<{ socket: Socket; answer(): string; closed: Promise<void> }> {
  return rawConnection(url).then((c) => {
    const { host } = new URL(url);
    c.socket.write(`POST /v1/stream/${journal} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/octet-stream\r\ncontent-length: ${length}\r\nconnection: close\r\n\r\n`);
    c.socket.write(Buffer.alloc(sent, 97));
    return c;
  });
}

test('a slow request body is timed out with 408 and its connection closed (slowloris)', async (t) => {
  const b = await broker(t, ['--request-timeout', '1s']);
  await createJournal(b.url, 'slow/j');
  const slow = await startAppend(b.url, 'slow/j', 1000, 10);
  await slow.closed;
  t.regex(slow.answer(), /^HTTP\/1\.1 408/);
  t.is((await readAll(b.url, 'slow/j')).length, 0);
  t.is((await appendTo(b.url, 'slow/j', 'fast')).status, 204);
});

test('connections past --max-connections are refused while the others keep being served', async (t) => {
  const b = await broker(t, ['--max-connections', '4']);
  const held = await Promise.all(Array.from({ length: 4 }, () => rawConnection(b.url)));
  const extra = await rawConnection(b.url);
  await extra.closed;
  t.is(extra.answer(), '');
  // A held connection still works.
  held[0]!.socket.write(`GET /healthz HTTP/1.1\r\nhost: ${new URL(b.url).host}\r\nconnection: close\r\n\r\n`);
  await held[0]!.closed;
  t.regex(held[0]!.answer(), /^HTTP\/1\.1 200/);
  for (const c of held.slice(1)) c.socket.destroy();
  await Promise.all(held.map((c) => c.closed));
  t.is((await fetch(`${b.url}/healthz`)).status, 200);
});

test('appends past the in-flight byte budget get 503 with Retry-After instead of holding more memory', async (t) => {
  const b = await broker(t, ['--append-budget', '1MiB']);
  await createJournal(b.url, 'budget/j');
  // 700 KiB declared and half sent: held against the budget until answered.
  const first = await startAppend(b.url, 'budget/j', 700 * 1024, 350 * 1024);
  await new Promise((r) => setTimeout(r, 200));
  const refused = await appendTo(b.url, 'budget/j', Buffer.alloc(700 * 1024, 98));
  t.is(refused.status, 503);
  t.is(refused.headers.get('retry-after'), '1');
  t.is(((await refused.json()) as { error: { code: string } }).error.code, 'OVERLOADED');
  t.is((await appendTo(b.url, 'budget/j', 'small')).status, 204);
  first.socket.write(Buffer.alloc(350 * 1024, 97));
  await first.closed;
  t.regex(first.answer(), /^HTTP\/1\.1 204/);
  // Answered requests give their bytes back.
  t.is((await appendTo(b.url, 'budget/j', Buffer.alloc(700 * 1024, 98))).status, 204);
  t.is((await readAll(b.url, 'budget/j')).length, 5 + 1400 * 1024);
});

test('idle spools close their files: many journals hold a bounded number of descriptors and all still serve', async (t) => {
  const b = await broker(t, ['--max-open-spools', '8']);
  const names = Array.from({ length: 120 }, (_, i) => `fds/j${i}`);
  for (const n of names) {
    await createJournal(b.url, n);
    t.is((await appendTo(b.url, n, `data of ${n}`)).status, 204);
  }
  const fds = (await readdir(`/proc/${b.proc.pid}/fd`)).length;
  // Two files per open spool used to make this at least 240.
  t.true(fds < 120, `${fds} descriptors open`);
  for (const n of names.slice(0, 20)) t.is((await readAll(b.url, n)).toString(), `data of ${n}`);
  t.is((await appendTo(b.url, names[0]!, '+')).status, 204);
  t.is((await readAll(b.url, names[0]!)).toString(), `data of ${names[0]}+`);
  t.is((await fetch(`${b.url}/healthz`)).status, 200);
});

const CATALOG = join(ROOT, 'test/fixtures/ingest/orders.flow.yaml');

test('an /ingest body over --max-ingest-size gets 413 naming the limit, and nothing is written', async (t) => {
  const b = await broker(t, ['--catalog', CATALOG, '--max-ingest-size', '4KiB']);
  const docs = Array.from({ length: 100 }, (_, i) => ({ id: i, region: 'eu', rush: false, shard: 0, txn: 'x'.repeat(40) }));
  const res = await ingest(b, { 'acme/orders': docs });
  t.is(res.status, 413);
  const { error } = (await res.json()) as { error: { code: string; message: string } };
  t.is(error.code, 'PAYLOAD_TOO_LARGE');
  t.regex(error.message, /4096 bytes \(--max-ingest-size\)/);
  const list = (await (await fetch(`${b.url}/v1/journals`)).json()) as { journals: unknown[] };
  t.is(list.journals.length, 0);
  t.is((await ingest(b, { 'acme/orders': docs.slice(0, 2) })).status, 200);
});

test('JSON nested 100,000 deep gets 400 instead of 500, at /ingest and in a JSON journal', async (t) => {
  const b = await broker(t, ['--catalog', CATALOG, '--max-ingest-size', '1MiB']);
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  const res = await ingest(b, `{"acme/orders": [{"id": 1, "region": "eu", "rush": false, "shard": 0, "items": ${deep}}]}`);
  t.is(res.status, 400);
  t.regex(((await res.json()) as { error: { message: string } }).error.message, /deeper than 64 levels \(--max-json-depth\)/);
  await createJournal(b.url, 'deep/json', 'application/json');
  const append = await appendTo(b.url, 'deep/json', deep, 'application/json');
  t.is(append.status, 400);
  t.is(((await append.json()) as { error: { code: string } }).error.code, 'INVALID_CONTENT');
  t.is((await fetch(streamUrl(b.url, 'deep/json'), { method: 'HEAD' })).headers.get('stream-next-offset'), '0000000000000000_0000000000000000');
});
