import test from 'ava';
import { Appender } from '../src/client/appender.js';
import { BrokerClient } from '../src/client/broker-client.js';
import { loadCatalog } from '../src/catalog/load.js';
import { compileCatalog } from '../src/collections/collection.js';
import { encodeLines, Publisher, writeAcks } from '../src/collections/publisher.js';
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

test('documents encoded elsewhere (encodeLines) go out whole, non-ASCII included, under the fence written into the room before them, and are fenced like any others', async (t) => {
  const { writer, route, seen } = await setup(t);
  const [journal] = [...route([{ key: 'x', through: 0, delta: 0 }]).journals.keys()];
  const collections = compileCatalog(await loadCatalog(CATALOG));
  const encoded = (docs: { key: string; through: number; delta: number }[]): Routed => {
    const router = new Router(collections);
    router.addEncoded({ collection: 'acme/counts', journal: journal!, values: [], ...encodeLines(docs.map((d) => ({ ...d, _meta: { stale: true } }))) });
    return router.drain();
  };
  const producer = randomProducer();
  const crashed = new Publisher(writer, producer);
  await crashed.publish(encoded([{ key: 'lost', through: 9, delta: 9 }]));
  const pub = new Publisher(writer, producer, crashed.lastCommitted);
  const first = encoded([{ key: 'é€😀', through: 1, delta: 1 }, { key: 'a', through: 1, delta: 1 }]);
  const lines = first.journals.get(journal!)!.encoded[0]!.body;
  const bodies = pub.encode(first);
  // The fence and the lines are one buffer: the lines' own, not a copy.
  t.is(bodies.get(journal!)!.buffer, lines.buffer);
  await pub.append(bodies);
  await pub.publish(encoded([{ key: 'b', through: 2, delta: 1 }]));
  await writeAcks(writer, pub.commit());
  t.deepEqual(await seen(), ['é€😀1', 'a1', 'b2']);
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
