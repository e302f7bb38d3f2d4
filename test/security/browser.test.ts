import test from 'ava';
import { request } from 'node:http';
import { appendTo, cleanup, createJournal, readAll, startBroker, streamUrl, type TestBroker } from '../helpers/broker.js';
import { ingest } from '../helpers/collections.js';

// Findings (issue 16.1), whatever the auth setting: CORS answered `allow-origin: *` with DELETE
// allowed, the Host header was not checked (DNS rebinding), and a `text/plain` POST (a form
// any web page may send without a preflight) applied a journals YAML.

const ALLOWED = 'https://console.example.com';
let b: TestBroker;

test.before(async () => {
  b = await startBroker({ args: ['--cors-origins', ALLOWED, '--allowed-hosts', 'broker.internal'] });
});
test.after.always(() => cleanup(b));

/** One HTTP request with headers fetch would not let a test choose (Host). */
function raw(method: string, path: string, headers: Record<string, string>, body = ''): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const url = new URL(b.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const code = (text: string): string => (JSON.parse(text) as { error: { code: string } }).error.code;

test('a text/plain POST of a journals YAML to /v1/journals/apply is 415 and applies nothing', async (t) => {
  await createJournal(b.url, 'victim/history', 'text/plain');
  await appendTo(b.url, 'victim/history', 'keep me', 'text/plain');
  const yaml = 'journals:\n  - name: victim/history\n    contentType: text/plain\n    fragment: { retention: 1ms }\n';
  const res = await fetch(`${b.url}/v1/journals/apply`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: yaml });
  t.is(res.status, 415);
  const body = (await res.json()) as { error: { code: string; message: string } };
  t.is(body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
  t.regex(body.error.message, /takes application\/json or application\/yaml, not text\/plain/);
  const journals = (await (await fetch(`${b.url}/v1/journals`)).json()) as { journals: { spec: { name: string; fragment: { retention: string } } }[] };
  t.not(journals.journals.find((j) => j.spec.name === 'victim/history')!.spec.fragment.retention, '1ms');
  const yamlOk = await fetch(`${b.url}/v1/journals/apply?dryRun=true`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml });
  t.is(yamlOk.status, 200);
});

test('/ingest takes only application/json, and body-less endpoints refuse form bodies', async (t) => {
  const form = await ingest(b, '{"acme/orders":[]}', { 'content-type': 'text/plain' });
  t.is(form.status, 415);
  const prune = await fetch(`${b.url}/v1/fragments/prune?selector=&dryRun=false`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'a=b',
  });
  t.is(prune.status, 415);
  t.is((await fetch(`${b.url}/v1/fragments/prune?selector=`, { method: 'POST' })).status, 200);
});

test('a mutating request from an origin outside --cors-origins is 403 and does nothing', async (t) => {
  await createJournal(b.url, 'cors/target', 'text/plain');
  for (const [method, body] of [['POST', 'evil'], ['DELETE', '']] as const) {
    const res = await fetch(streamUrl(b.url, 'cors/target'), { method, headers: { origin: 'https://evil.example', 'content-type': 'text/plain' }, body: body || undefined });
    t.is(res.status, 403, method);
    t.is(code(await res.text()), 'ORIGIN_NOT_ALLOWED');
    t.is(res.headers.get('access-control-allow-origin'), null);
  }
  t.is((await readAll(b.url, 'cors/target')).toString(), '');
});

test('an origin of --cors-origins may write, and gets its own origin back rather than *', async (t) => {
  await createJournal(b.url, 'cors/allowed', 'text/plain');
  const res = await appendTo(b.url, 'cors/allowed', 'hi', 'text/plain', { origin: ALLOWED });
  t.is(res.status, 204);
  t.is(res.headers.get('access-control-allow-origin'), ALLOWED);
  t.regex(res.headers.get('vary') ?? '', /Origin/);
  t.regex(res.headers.get('access-control-expose-headers') ?? '', /stream-next-offset/);
  t.is((await readAll(b.url, 'cors/allowed')).toString(), 'hi');
});

test('preflights: a foreign origin may only read a loopback broker, an allowed one may DELETE', async (t) => {
  const preflight = (origin: string) =>
    fetch(streamUrl(b.url, 'cors/any'), { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'DELETE' } });
  const foreign = await preflight('https://evil.example');
  t.is(foreign.status, 204);
  t.is(foreign.headers.get('access-control-allow-methods'), 'GET, HEAD, OPTIONS');
  const allowed = await preflight(ALLOWED);
  t.regex(allowed.headers.get('access-control-allow-methods') ?? '', /DELETE/);
  t.is(allowed.headers.get('access-control-allow-origin'), ALLOWED);
  const read = await fetch(`${b.url}/v1/journals`, { headers: { origin: 'https://evil.example' } });
  t.is(read.status, 200);
  t.is(read.headers.get('access-control-allow-origin'), '*');
});

test('a Host that is not a name of the broker is refused (DNS rebinding); its own names pass', async (t) => {
  const port = new URL(b.url).port;
  const rebound = await raw('GET', '/v1/journals', { host: `attacker.example:${port}` });
  t.is(rebound.status, 403);
  t.is(code(rebound.text), 'HOST_NOT_ALLOWED');
  t.is((await raw('POST', '/v1/fragments/prune?selector=&dryRun=false', { host: `attacker.example:${port}` })).status, 403);
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST.:${port}`, `broker.internal:${port}`, 'broker.internal']) {
    t.is((await raw('GET', '/healthz', { host })).status, 200, host);
  }
});

test('a broker without --cors-origins lets no page write, whatever its origin', async (t) => {
  const plain = await startBroker();
  t.teardown(() => cleanup(plain));
  await createJournal(plain.url, 'cors/default', 'text/plain');
  const res = await appendTo(plain.url, 'cors/default', 'x', 'text/plain', { origin: 'http://localhost:3000' });
  t.is(res.status, 403);
  t.is((await readAll(plain.url, 'cors/default')).toString(), '');
});

test('--cors-origins refuses a value that is not an origin, in one line', async (t) => {
  const err = await t.throwsAsync(startBroker({ args: ['--cors-origins', 'https://ok.example,https://bad.example/path'] }));
  t.regex(err!.message, /--cors-origins: "https:\/\/bad.example\/path" is not an origin/);
});
