import test from 'ava';
import { Appender } from '../src/client/appender.js';
import { BrokerClient } from '../src/client/broker-client.js';
import { loadCatalog } from '../src/catalog/load.js';
import { compileCatalog } from '../src/collections/collection.js';
import { Publisher, writeAcks } from '../src/collections/publisher.js';
import { Router, type Routed } from '../src/collections/route.js';
import { randomProducer } from '../src/collections/uuid.js';
import { committedDocs } from './helpers/collections.js';
import { cleanup, ROOT, startBroker } from './helpers/broker.js';
import { join } from 'node:path';

const CATALOG = join(ROOT, 'test/fixtures/consumer/counts.flow.yaml');

async function setup(t: { teardown(fn: () => Promise<void>): void }) {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  const collections = compileCatalog(await loadCatalog(CATALOG));
  const writer = new Appender(new BrokerClient(b.url));
  const route = (docs: { key: string; through: number; delta: number }[]): Routed => {
    const router = new Router(collections);
    docs.forEach((d, i) => router.add('acme/counts', d, i));
    return router.drain();
  };
  const seen = async () => (await committedDocs<{ key: string; through: number }>(b, 'acme/counts')).map((d) => `${d.key}${d.through}`);
  return { writer, route, seen };
}

test('published documents stay invisible until their ACK intents land; a rollback discards them', async (t) => {
  const { writer, route, seen } = await setup(t);
  const pub = new Publisher(writer, randomProducer());
  await pub.publish(route([{ key: 'a', through: 1, delta: 1 }, { key: 'b', through: 1, delta: 1 }]));
  t.deepEqual(await seen(), []);
  await writeAcks(writer, pub.commit());
  t.deepEqual(await seen(), ['a1', 'b1']);
  await pub.publish(route([{ key: 'a', through: 2, delta: 1 }]));
  await writeAcks(writer, pub.rollback());
  await pub.publish(route([{ key: 'a', through: 3, delta: 2 }]));
  await writeAcks(writer, pub.commit());
  t.deepEqual(await seen(), ['a1', 'b1', 'a3']);
});

test('what a crashed transaction left uncommitted is fenced off by the next transaction of its producer, never committed by it', async (t) => {
  const { writer, route, seen } = await setup(t);
  const producer = randomProducer();
  const crashed = new Publisher(writer, producer);
  await crashed.publish(route([{ key: 'a', through: 1, delta: 1 }]));
  await writeAcks(writer, crashed.commit());
  await crashed.publish(route([{ key: 'lost', through: 9, delta: 9 }]));
  // A new process of the same producer knows only the last committed clock.
  const next = new Publisher(writer, producer, crashed.lastCommitted);
  await next.publish(route([{ key: 'b', through: 1, delta: 1 }]));
  await writeAcks(writer, next.commit());
  t.deepEqual(await seen(), ['a1', 'b1']);
});

test('the router validates, combines by key and names a bad document', (t) => {
  return loadCatalog(CATALOG).then((catalog) => {
    const router = new Router(compileCatalog(catalog));
    router.add('acme/counts', { key: 'a', through: 1, delta: 1 }, 0);
    router.add('acme/counts', { key: 'a', through: 1, delta: 1 }, 1);
    t.throws(() => router.add('acme/counts', { key: 'a' }, 2), { message: /^acme\/counts\[2\]: / });
    t.throws(() => router.add('acme/nope', {}, 3), { message: /not in the catalog/ });
    const routed = router.drain();
    t.is(routed.received, 2);
    t.is(routed.stored, 1);
    t.deepEqual([...routed.journals.keys()], ['acme/counts/pivot=00']);
  });
});
