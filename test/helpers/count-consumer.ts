/**
 * A small consumer application for crash tests, run as its own process:
 * `node --import tsx test/helpers/count-consumer.ts BROKER_URL STORE_FILE CATALOG`.
 * It counts `acme/events` documents per key in a `FileStore`, and each transaction publishes to
 * `acme/counts`, per key it touched, `{ key, delta, through }`: the documents it counted and the
 * running total after them. Exactly once means: per key, the deltas sum to the input's count
 * and the totals step through every value once. Exits 0 once the input is read through.
 */
import { Appender } from '../../src/client/appender.js';
import { BrokerClient } from '../../src/client/broker-client.js';
import { loadCatalog } from '../../src/catalog/load.js';
import { compileCatalog } from '../../src/collections/collection.js';
import { runConsumer } from '../../src/consumer/driver.js';
import { FileStore } from '../../src/consumer/file-store.js';

const [url, storeFile, catalog] = process.argv.slice(2) as [string, string, string];
const client = new BrokerClient(url);
const store = await FileStore.open<Record<string, number>>(storeFile, {});
let delta: Record<string, number> = {};

await runConsumer<{ key: string }>({
  name: 'counter',
  client,
  writer: new Appender(client),
  collections: compileCatalog(await loadCatalog(catalog)),
  sources: ['acme/events'],
  store,
  follow: false,
  stallMs: 5,
  maxTxnMs: 5,
  maxTxnDocs: 40, // at least 8 transactions over the tests' 300 inputs, however fast the machine
  app: {
    consume(d) {
      const key = d.doc.key;
      store.state[key] = (store.state[key] ?? 0) + 1;
      delta[key] = (delta[key] ?? 0) + 1;
    },
    finalize(txn) {
      for (const [key, n] of Object.entries(delta)) txn.publish('acme/counts', { key, delta: n, through: store.state[key] });
      delta = {};
    },
  },
});
