/**
 * The group commit alone: acknowledged append throughput of one Journal in this process (no
 * HTTP, no broker), next to fsync'd sequential writes of the same size on the same disk.
 *
 *   npm run build && node dist/bench/commit.js [-- --seconds 2 --rounds 3]
 *
 * Two loads: W1's shape (8 appenders, 200 KB batches, each waiting for its acknowledgement)
 * and W2's (64 appenders of one 200-byte document each). Printed per round, so that runs on a
 * busy machine can be compared side by side; `cpu µs/append` is the process's CPU time (main
 * thread and thread pool) per acknowledged append, which load disturbs less than throughput.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Journal } from '../src/journal/journal.js';
import type { JournalSpec } from '../src/journal/spec.js';
import { fsyncDisk } from './lib/limits.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' }, rounds: { type: 'string', default: '3' } } });
const seconds = Number(values.seconds);

const spec: JournalSpec = {
  name: 'bench/commit',
  labels: {},
  contentType: 'application/octet-stream',
  validateJson: false,
  fragment: { length: 1 << 30, codec: 'gzip', flushInterval: '1h', pathPostfixTemplate: '', stores: ['file:///unused/'], refreshInterval: '5m', retention: '0s' },
};

async function run(appenders: number, batchBytes: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'inlet-bench-commit-'));
  const j = await Journal.open(spec, dir);
  const buf = Buffer.alloc(batchBytes, 97);
  const lat: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: appenders }, async () => {
        while (performance.now() - t0 < seconds * 1000) {
          const a = performance.now();
          await j.append({ chunks: [buf], length: buf.length });
          lat.push(performance.now() - a);
        }
      }),
    );
  } finally {
    await j.close();
    await rm(dir, { recursive: true, force: true });
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  const disk = await fsyncDisk(tmpdir(), 500, Math.min(1 << 20, batchBytes * appenders));
  const mbps = (lat.length * batchBytes) / 1e6 / secs;
  return [
    `${appenders} × ${batchBytes} B`.padEnd(16),
    `${Math.round(lat.length / secs)} appends/s`.padStart(17),
    `${mbps.toFixed(1)} MB/s`.padStart(12),
    `p50 ${lat[lat.length >> 1]!.toFixed(2)} ms`.padStart(14),
    `p99 ${lat[Math.floor(lat.length * 0.99)]!.toFixed(2)} ms`.padStart(15),
    `cpu ${((cpu.user + cpu.system) / lat.length).toFixed(1)} µs/append`.padStart(22),
    `× fsync'd disk ${(mbps / disk).toFixed(2)} (${disk.toFixed(0)} MB/s)`.padStart(30),
    `load ${loadavg()[0]!.toFixed(2)}`,
  ].join('  ');
}

for (let r = 0; r < Number(values.rounds); r++) {
  console.log(await run(8, 200_000));
  console.log(await run(64, 200));
}
