/**
 * Restart time with many journals: creates N journals with one append each, kills the broker
 * (SIGKILL, so every spool is recovered), and times the next start until it listens; then
 * checks that the restarted broker answers health checks and reads, and counts its open files.
 * The CPU time to listening is shown beside the wall time, which a busy machine stretches.
 *
 *   npm run build && node dist/bench/restart.js [--journals 10000] [--concurrency 32] [--keep]
 */
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { scratchDir, startInlet } from './lib/processes.js';

const { values } = parseArgs({ options: { journals: { type: 'string', default: '10000' }, concurrency: { type: 'string', default: '32' }, keep: { type: 'boolean', default: false } } });
const n = Number(values.journals);
// --keep leaves the data dir behind (e.g. to profile a start over it).
const dir = values.keep ? { path: await mkdtemp(join(tmpdir(), 'inlet-restart-')), remove: async () => undefined } : await scratchDir('inlet-restart-');
const name = (i: number) => `restart/j${String(i).padStart(6, '0')}`;

let broker = await startInlet(dir.path);
const created = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: Number(values.concurrency) }, async () => {
    while (next < n) {
      const url = `${broker.url}/v1/stream/${name(next++)}`;
      const put = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' } });
      const post = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'one append' });
      if (put.status !== 201 || post.status !== 204) throw new Error(`${url}: ${put.status} ${post.status}`);
    }
  }),
);
console.log(`${n} journals with one append each: created in ${((performance.now() - created) / 1000).toFixed(1)} s; open files before restart: ${(await readdir(`/proc/${broker.proc.pid}/fd`)).length}`);
await broker.stop('SIGKILL');

for (const round of ['after SIGKILL', 'again']) {
  const started = performance.now();
  broker = await startInlet(dir.path);
  const ms = performance.now() - started;
  const cpu = await cpuSeconds(broker.proc.pid!);
  const health = await fetch(`${broker.url}/healthz`);
  const body = (await health.json()) as { journals: number };
  const read = await fetch(`${broker.url}/v1/stream/${name(n - 1)}?offset=-1`);
  const fds = (await readdir(`/proc/${broker.proc.pid}/fd`)).length;
  console.log(`restart ${round}: listening after ${(ms / 1000).toFixed(2)} s (${cpu.toFixed(2)} s of CPU); healthz ${health.status} (${body.journals} journals); read ${read.status} "${await read.text()}"; open files ${fds}; peak RSS ${broker.peakRssMiB().toFixed(0)} MiB`);
  await broker.stop('SIGKILL');
}
await dir.remove();
if (values.keep) console.log(`data dir kept: ${dir.path}`);

/** CPU time (user + system, all threads) a process has used so far, from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
