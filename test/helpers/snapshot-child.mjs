// A process that commits to a RegisterStore with a recovery log, then snapshots it: run by
// test/derive-snapshots.test.ts, and killed (INLET_CRASH_AT) at points of the snapshot.
// Usage: node snapshot-child.mjs URL PATH JOURNAL FROM TO SNAPSHOT(0|1)
import { Appender } from '../../dist/src/client/appender.js';
import { BrokerClient } from '../../dist/src/client/broker-client.js';
import { RegisterStore } from '../../dist/src/derive/store.js';

const [url, path, journal, from, to, snapshot] = process.argv.slice(2);
const REGISTERS = 500; // as in the test
const client = new BrokerClient(url);
const store = await RegisterStore.open(path, {
  client,
  writer: new Appender(client),
  journal,
  // Only explicit snapshots; small chunks, so that a snapshot takes many appends.
  snapshots: { minBytes: Number.MAX_SAFE_INTEGER, chunkBytes: 2000 },
});
for (let i = Number(from); i < Number(to); i++) {
  for (let j = 0; j < REGISTERS; j++) store.put(`k${String(j).padStart(4, '0')}`, { i, j });
  await store.commit(Promise.resolve({ sources: {}, ackIntents: {}, lastCommitted: String(i) }));
}
if (snapshot === '1') await store.snapshot();
store.close();
