import test from 'ava';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { BrokerClient } from '../../src/client/broker-client.js';
import { bearer, newKey, tokenFor } from '../helpers/auth.js';
import { ingest } from '../helpers/collections.js';
import { appendTo, cleanup, createJournal, ROOT, runCli, startBroker, streamUrl, type TestBroker } from '../helpers/broker.js';

// Finding (issue 16.1): every endpoint was open to any client. With --auth-keys, requests need a
// signed bearer token whose capabilities and label selector cover what they touch.

const KEY = newKey();
const OLD_KEY = newKey();
const KEYS = `${KEY} ${OLD_KEY}`;
const CATALOG = join(ROOT, 'test/fixtures/ingest/orders.flow.yaml');

let b: TestBroker;
let admin: string;

test.before(async () => {
  b = await startBroker({ args: ['--catalog', CATALOG], env: { INLET_AUTH_KEYS: KEYS } });
  admin = await tokenFor(KEYS, ['LIST', 'READ', 'APPEND', 'APPLY', 'DELETE', 'INGEST']);
  const specs = [
    { name: 'chat/room-1', labels: { app: 'chat' }, contentType: 'text/plain' },
    { name: 'ops/audit', labels: { app: 'ops' }, contentType: 'text/plain' },
    { name: 'chat/names', labels: { app: 'chat' }, contentType: 'text/plain' },
    { name: 'spoof/names', labels: { name: 'chat/names' }, contentType: 'text/plain' },
  ];
  const res = await fetch(`${b.url}/v1/journals/apply`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(admin) },
    body: JSON.stringify({ journals: specs }),
  });
  if (res.status !== 200) throw new Error(`apply: ${res.status} ${await res.text()}`);
  for (const s of specs) await appendTo(b.url, s.name, `${s.name};`, 'text/plain', bearer(admin));
});
test.after.always(() => cleanup(b));

async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, ...body.error };
}

test('without a token every route but /healthz answers 401 with a Bearer challenge', async (t) => {
  t.is((await fetch(`${b.url}/healthz`)).status, 200);
  for (const [method, path] of [['GET', '/v1/journals'], ['GET', '/metrics'], ['GET', '/v1/stream/chat/room-1?offset=-1'], ['DELETE', '/v1/stream/ops/audit'], ['GET', '/v1/collections']]) {
    const res = await fetch(`${b.url}${path}`, { method });
    t.is(res.headers.get('www-authenticate'), 'Bearer', path);
    t.like(await errorOf(res), { status: 401, code: 'UNAUTHORIZED' }, `${method} ${path}`);
  }
  t.is((await fetch(`${streamUrl(b.url, 'ops/audit')}?offset=-1`, { headers: bearer(admin) })).status, 200, 'nothing was deleted');
});

test('a token signed by an unknown key, a forged one, or an expired one is 401', async (t) => {
  const foreign = await tokenFor(newKey(), ['READ']);
  const expired = await new SignJWT({ cap: ['READ'], sel: '' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
    .sign(Buffer.from(KEY, 'base64'));
  const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"cap":["READ"],"sel":"","exp":9999999999}').toString('base64url')}.`;
  for (const [token, why] of [[foreign, /not signed by a key of this broker/], [expired, /expired/], [unsigned, /malformed|not signed/]] as const) {
    const e = await errorOf(await fetch(`${streamUrl(b.url, 'chat/room-1')}?offset=-1`, { headers: bearer(token) }));
    t.is(e.status, 401);
    t.regex(e.message, why);
  }
});

test('every key verifies: a token signed by the second (rotated-out) key still reads', async (t) => {
  const old = await tokenFor(`${OLD_KEY}`, ['READ'], 'app=chat');
  const res = await fetch(`${streamUrl(b.url, 'chat/room-1')}?offset=-1`, { headers: bearer(old) });
  t.is(res.status, 200);
  t.is(await res.text(), 'chat/room-1;');
});

test('a token reads only journals its selector matches, and only with the capabilities it carries', async (t) => {
  const reader = await tokenFor(KEYS, ['READ'], 'app=chat');
  t.is((await fetch(`${streamUrl(b.url, 'chat/room-1')}?offset=-1`, { headers: bearer(reader) })).status, 200);
  const outside = await errorOf(await fetch(`${streamUrl(b.url, 'ops/audit')}?offset=-1`, { headers: bearer(reader) }));
  t.like(outside, { status: 403, code: 'FORBIDDEN' });
  t.regex(outside.message, /READ on ops\/audit/);
  const write = await errorOf(await appendTo(b.url, 'chat/room-1', 'x', 'text/plain', bearer(reader)));
  t.like(write, { status: 403, code: 'FORBIDDEN' });
  t.regex(write.message, /does not grant APPEND/);
  t.is((await fetch(`${streamUrl(b.url, 'chat/room-1')}?offset=-1`, { headers: bearer(admin) }).then((r) => r.text())), 'chat/room-1;');
});

test('the selector may name a journal by the name label, which journal labels cannot spoof', async (t) => {
  const one = await tokenFor(KEYS, ['APPEND'], 'name=chat/names');
  t.is((await appendTo(b.url, 'chat/names', 'a;', 'text/plain', bearer(one))).status, 204);
  t.is((await appendTo(b.url, 'chat/room-1', 'a;', 'text/plain', bearer(one))).status, 403);
  t.is((await appendTo(b.url, 'spoof/names', 'a;', 'text/plain', bearer(one))).status, 403);
});

test('listing shows only the journals the token may LIST; /metrics needs LIST', async (t) => {
  const lister = await tokenFor(KEYS, ['LIST'], 'app=ops');
  const listed = await new BrokerClient(b.url, { token: lister }).listJournals();
  t.deepEqual(listed.map((j) => j.spec.name), ['ops/audit']);
  t.is((await fetch(`${b.url}/metrics`, { headers: bearer(lister) })).status, 200);
  const reader = await tokenFor(KEYS, ['READ']);
  t.like(await errorOf(await fetch(`${b.url}/metrics`, { headers: bearer(reader) })), { status: 403, code: 'FORBIDDEN' });
});

test('apply may neither create a journal outside the selector nor relabel one out of or into it', async (t) => {
  const applier = await tokenFor(KEYS, ['APPLY'], 'app=chat');
  const apply = (journals: unknown[]) =>
    fetch(`${b.url}/v1/journals/apply`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(applier) }, body: JSON.stringify({ journals }) });
  t.is((await apply([{ name: 'chat/room-2', labels: { app: 'chat' } }])).status, 200);
  t.is((await apply([{ name: 'ops/new', labels: { app: 'ops' } }])).status, 403);
  t.is((await apply([{ name: 'chat/room-1', labels: { app: 'ops' }, contentType: 'text/plain' }])).status, 403);
  t.is((await apply([{ name: 'ops/audit', labels: { app: 'chat' }, contentType: 'text/plain' }])).status, 403);
  const all = await new BrokerClient(b.url, { token: admin }).listJournals();
  const apps = Object.fromEntries(all.map((j) => [j.spec.name, j.spec.labels.app]));
  t.like(apps, { 'chat/room-1': 'chat', 'chat/room-2': 'chat', 'ops/audit': 'ops' });
  t.false('ops/new' in apps);
});

test('fragments: a named journal outside the selector is 403, a selector picks only journals in scope', async (t) => {
  const pruner = await tokenFor(KEYS, ['DELETE', 'READ'], 'app=chat');
  const prune = await fetch(`${b.url}/v1/fragments/prune?journal=ops/audit&dryRun=false`, { method: 'POST', headers: bearer(pruner) });
  t.is(prune.status, 403);
  const list = (await (await fetch(`${b.url}/v1/fragments?selector=`, { headers: bearer(pruner) })).json()) as { journals: { journal: string }[] };
  const listed = list.journals.map((j) => j.journal);
  t.true(listed.includes('chat/room-1'));
  t.deepEqual(listed.filter((name) => !name.startsWith('chat/')), []);
});

test('/ingest needs INGEST on each collection of the body, by its collection label', async (t) => {
  const doc = { id: 1, region: 'eu', rush: false, shard: 0 };
  const other = await tokenFor(KEYS, ['INGEST'], 'inlet.dev/collection=acme/other');
  const refused = await errorOf(await ingest(b, { 'acme/orders': [doc] }, bearer(other)));
  t.like(refused, { status: 403, code: 'FORBIDDEN' });
  t.regex(refused.message, /INGEST on acme\/orders/);
  const ingester = await tokenFor(KEYS, ['INGEST'], 'inlet.dev/collection=acme/orders');
  const ok = await ingest(b, { 'acme/orders': [doc] }, bearer(ingester));
  t.is(ok.status, 200, await ok.clone().text());
  const lister = await tokenFor(KEYS, ['LIST'], 'inlet.dev/collection=acme/orders');
  t.deepEqual((await new BrokerClient(b.url, { token: lister }).listCollections()).map((c) => c.name), ['acme/orders']);
});

test('PUT creating a journal needs APPLY, and a fork needs READ on its source', async (t) => {
  const creator = await tokenFor(KEYS, ['APPLY'], 'name in (scratch/a,scratch/b)');
  t.is((await createJournal(b.url, 'scratch/a', 'text/plain', bearer(creator))).status, 201);
  t.is((await createJournal(b.url, 'scratch/c', 'text/plain', bearer(creator))).status, 403);
  const fork = await createJournal(b.url, 'scratch/b', 'text/plain', { ...bearer(creator), 'stream-forked-from': '/v1/stream/chat/room-1' });
  t.is(fork.status, 403);
  t.regex((await errorOf(fork)).message, /READ on chat\/room-1/);
});

test('the CLI prints a token with inlet token create, and client commands take --token or INLET_TOKEN', async (t) => {
  const created = await runCli(['token', 'create', '--auth-keys', KEYS, '--cap', 'LIST', '--selector', 'app=ops', '--ttl', '1h']);
  t.is(created.code, 0, created.stderr);
  const token = created.stdout.trim();
  const byFlag = await runCli(['journals', 'list', '--broker', b.url, '--token', token]);
  t.is(byFlag.code, 0, byFlag.stderr);
  t.regex(byFlag.stdout, /ops\/audit/);
  t.notRegex(byFlag.stdout, /chat\//);
  const byEnv = await runCli(['journals', 'list', '--broker', b.url], { env: { INLET_TOKEN: token } });
  t.is(byEnv.stdout, byFlag.stdout);
  const none = await runCli(['journals', 'list', '--broker', b.url], { env: { INLET_TOKEN: '' } });
  t.is(none.code, 1);
  t.regex(none.stderr, /^inlet: this broker requires a bearer token/);
});

test('inlet token create refuses an unknown capability or a bad key in one line', async (t) => {
  const cap = await runCli(['token', 'create', '--auth-keys', KEYS, '--cap', 'READ,ADMIN']);
  t.is(cap.code, 2);
  t.is(cap.stderr, 'inlet: --cap: unknown capability "ADMIN" (expected LIST, READ, APPEND, APPLY, DELETE, INGEST)\n');
  const key = await runCli(['token', 'create', '--auth-keys', 'short', '--cap', 'READ']);
  t.is(key.code, 2);
  t.regex(key.stderr, /^inlet: --auth-keys: key 1 must be base64 of at least 16 bytes/);
});

test('a broker refuses to start with a malformed INLET_AUTH_KEYS', async (t) => {
  const err = await t.throwsAsync(startBroker({ env: { INLET_AUTH_KEYS: 'not*base64' } }));
  t.regex(err!.message, /INLET_AUTH_KEYS: key 1 must be base64/);
});
