/**
 * Derivation register recovery with and without a snapshot, in one run:
 *
 *   npm run build && node dist/bench/snapshots.js [-- --registers 100000 --commits 60 --changed 10000]
 *
 * A RegisterStore with a recovery log commits `commits` transactions of `changed` registers
 * each (the first ones fill every register). Then a store on an empty data dir recovers from
 * the log alone; a snapshot is written; two more commits; a store on an empty data dir recovers
 * from the snapshot and the log after it. Reports bytes read and time of each.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Appender } from '../src/client/appender.js';
import { BrokerClient } from '../src/client/broker-client.js';
import type { ConsumerCheckpoint } from '../src/consumer/types.js';
import { latestSnapshot } from '../src/derive/snapshots.js';
import { RegisterStore } from '../src/derive/store.js';
import { scratchDir, startInlet } from './lib/processes.js';

const { values } = parseArgs({ options: { registers: { type: 'string', default: '100000' }, commits: { type: 'string', default: '60' }, changed: { type: 'string', default: '10000' } } });
const R = Number(values.registers);
const C = Number(values.commits);
const K = Number(values.changed);
const dir = await scratchDir('inlet-bench-snapshots-');
const broker = await startInlet(join(dir.path, 'broker'));
try {
  const client = new BrokerClient(broker.url);
  const journal = 'recovery/derive/bench/registers';
  const open = (name: string) => RegisterStore.open(join(dir.path, name), { client, writer: new Appender(client), journal, snapshots: { disabled: true } });
  const store = await open('a.sqlite');
  let next = 0;
  const commit = async (i: number) => {
    for (let n = 0; n < K; n++) {
      const j = next++ % R;
      store.put(`key-${j}`, { i, j, total: i * j, label: `register ${j}` });
    }
    await store.commit(Promise.resolve({ sources: {}, ackIntents: {}, lastCommitted: String(i) } as unknown as ConsumerCheckpoint));
  };
  for (let i = 0; i < C; i++) await commit(i);
  const head = (await client.head(journal)).writeHead;
  console.log(`${R} registers, ${C} commits of ${K} registers: log ${(head / 1e6).toFixed(1)} MB`);

  let t0 = performance.now();
  const plain = await open('b.sqlite');
  const plainMs = performance.now() - t0;
  plain.close();

  t0 = performance.now();
  await store.snapshot();
  const snapMs = performance.now() - t0;
  const pointer = (await latestSnapshot(client, journal))!;
  for (let i = C; i < C + 2; i++) await commit(i);

  t0 = performance.now();
  const fromSnapshot = await open('c.sqlite');
  const snapRecoveryMs = performance.now() - t0;
  fromSnapshot.close();
  store.close();
  const mb = (n: number) => (n / 1e6).toFixed(1);
  console.log(`snapshot: ${pointer.registers} registers, ${mb(pointer.end - pointer.begin)} MB, written in ${snapMs.toFixed(0)} ms`);
  console.log(`recovery, log only:        ${mb(plain.recovery!.logBytes)} MB of log read, ${plainMs.toFixed(0)} ms`);
  console.log(`recovery, snapshot + log:  ${mb(pointer.end - pointer.begin)} MB of snapshot + ${mb(fromSnapshot.recovery!.logBytes)} MB of log read, ${snapRecoveryMs.toFixed(0)} ms`);
  console.log(`ratio (log only / with snapshot): bytes ${(plain.recovery!.logBytes / (pointer.end - pointer.begin + fromSnapshot.recovery!.logBytes)).toFixed(1)}×, time ${(plainMs / snapRecoveryMs).toFixed(1)}×`);
} finally {
  await broker.stop();
  await dir.remove();
}
