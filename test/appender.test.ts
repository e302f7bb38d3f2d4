import test from 'ava';
import { Appender } from '../src/client/appender.js';
import { BrokerClient } from '../src/client/broker-client.js';
import { InletError } from '../src/errors.js';
import { cleanup, readAll, startBroker } from './helpers/broker.js';
import { lossyProxy } from './helpers/lossy-proxy.js';

const SPEC = { name: 'app/out', labels: { team: 'x' }, contentType: 'application/x-ndjson' };

test('ensure creates a missing journal with its labels and leaves an existing one as it is', async (t) => {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  const client = new BrokerClient(b.url);
  await new Appender(client).ensure(SPEC);
  t.deepEqual((await client.listJournals('team=x')).map((j) => j.spec.name), ['app/out']);
  // Another appender (another process) with other labels: the journal stays as it was.
  await new Appender(client).ensure({ ...SPEC, labels: { team: 'y' } });
  t.deepEqual((await client.listJournals('team=x')).map((j) => j.spec.name), ['app/out']);
  t.deepEqual(await client.listJournals('team=y'), []);
});

test('appends resolve with end offsets; a wrong expected offset is refused at once and writes nothing', async (t) => {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  const appender = new Appender(new BrokerClient(b.url), { attempts: 3, policy: { baseMs: 1, maxMs: 1 } });
  await appender.ensure(SPEC);
  t.is(await appender.append('app/out', Buffer.from('{"n":1}\n')), 8);
  t.is(await appender.append('app/out', Buffer.from('{"n":2}\n'), 8), 16);
  const err = await t.throwsAsync(appender.append('app/out', Buffer.from('{"n":3}\n'), 8));
  t.true(err instanceof InletError && err.code === 'WRONG_APPEND_OFFSET', String(err));
  t.is(await appender.append('app/out', Buffer.from('{"n":4}\n')), 24);
  t.is((await readAll(b.url, 'app/out')).toString(), '{"n":1}\n{"n":2}\n{"n":4}\n');
});

test('an append whose answer is lost is retried and written once, also with an expected offset (whose retry the broker refused as WRONG_APPEND_OFFSET)', async (t) => {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  const proxy = await lossyProxy(t, b.url);
  const retries: unknown[] = [];
  const appender = new Appender(new BrokerClient(proxy), {
    attempts: 5,
    policy: { baseMs: 1, maxMs: 5 },
    onRetry: (err) => retries.push(err),
  });
  await appender.ensure(SPEC);
  t.is(await appender.append('app/out', Buffer.from('{"n":1}\n'), 0), 8);
  t.is(retries.length, 1, 'the lost answer was retried');
  t.is(await appender.append('app/out', Buffer.from('{"n":2}\n')), 16);
  t.is((await readAll(b.url, 'app/out')).toString(), '{"n":1}\n{"n":2}\n');
});

test('a broker that is down is retried until it is back; one that stays down fails with IO_ERROR once the attempts are spent', async (t) => {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  await new Appender(new BrokerClient(b.url)).ensure(SPEC);
  await b.stop('SIGKILL');
  const gaveUp = await t.throwsAsync(new Appender(new BrokerClient(b.url), { attempts: 3, policy: { baseMs: 1, maxMs: 1 } }).append('app/out', Buffer.from('{"n":0}\n')));
  t.true(gaveUp instanceof InletError && gaveUp.code === 'IO_ERROR', String(gaveUp));

  let retries = 0;
  const appending = new Appender(new BrokerClient(b.url), { attempts: 10_000, policy: { baseMs: 20, maxMs: 100 }, onRetry: () => retries++ }).append(
    'app/out',
    Buffer.from('{"n":1}\n'),
  );
  while (retries === 0) await new Promise((r) => setTimeout(r, 10));
  const again = await startBroker({ dataDir: b.dataDir, args: ['--port', new URL(b.url).port] });
  t.teardown(() => cleanup(again));
  t.is(await appending, 8);
  t.is((await readAll(again.url, 'app/out')).toString(), '{"n":1}\n');
});

test('appenders writing one journal at once never see a sequence gap (regression: a slow state write restored an older producer state over a newer one)', async (t) => {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  const client = new BrokerClient(b.url);
  await new Appender(client).ensure(SPEC);
  const writers = Array.from({ length: 8 }, () => new Appender(client, { attempts: 1 }));
  await Promise.all(
    writers.map(async (w, i) => {
      for (let n = 0; n < 40; n++) await w.append('app/out', Buffer.from(`{"w":${i},"n":${n}}\n`));
    }),
  );
  const lines = (await readAll(b.url, 'app/out')).toString().trim().split('\n');
  t.is(lines.length, 8 * 40);
});

test('a retry of a producer\'s last append answers its original offsets, also after the broker was killed and restarted', async (t) => {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  const client = new BrokerClient(b.url);
  await new Appender(client).ensure(SPEC);
  const producer = { id: 'p1', epoch: 0, seq: 0 };
  const NDJSON = 'application/x-ndjson';
  t.deepEqual(await client.append('app/out', Buffer.from('{"n":1}\n'), NDJSON, { producer }), { begin: 0, end: 8 });
  await client.append('app/out', Buffer.from('{"other":1}\n'), NDJSON);
  t.deepEqual(await client.append('app/out', Buffer.from('{"n":1}\n'), NDJSON, { producer }), { begin: 0, end: 8, duplicate: true });
  t.deepEqual(await client.append('app/out', Buffer.from('{"n":2}\n'), NDJSON, { producer: { ...producer, seq: 1 } }), { begin: 20, end: 28 });
  await client.append('app/out', Buffer.from('{"other":2}\n'), NDJSON);

  await b.stop('SIGKILL');
  const again = await startBroker({ dataDir: b.dataDir });
  t.teardown(() => cleanup(again));
  const after = new BrokerClient(again.url);
  t.deepEqual(await after.append('app/out', Buffer.from('{"n":2}\n'), NDJSON, { producer: { ...producer, seq: 1 } }), { begin: 20, end: 28, duplicate: true });
  // An older sequence number is still a duplicate, without offsets; the next is accepted.
  const older = await after.append('app/out', Buffer.from('{"n":1}\n'), NDJSON, { producer });
  t.true(older.duplicate && Number.isNaN(older.end));
  t.deepEqual(await after.append('app/out', Buffer.from('{"n":3}\n'), NDJSON, { producer: { ...producer, seq: 2 } }), { begin: 40, end: 48 });
  t.is((await readAll(again.url, 'app/out')).toString(), '{"n":1}\n{"other":1}\n{"n":2}\n{"other":2}\n{"n":3}\n');
});
