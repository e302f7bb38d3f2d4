/**
 * Workload D alone (bench/lib/derive-workload.ts): derivations backfilled from the lake, then
 * live, next to a hand-written loop and d2ts. `npm run bench -- --only D` runs the same inside
 * the full report.
 *
 *   node dist/bench/derive.js [--docs N] [--chat N] [--live N] [--profile DIR]   # defaults: the --quick sizes
 *
 * `--profile DIR` writes a CPU profile of each backfill (this process's main thread) to DIR.
 */
import { parseArgs } from 'node:util';
import { DERIVE_SIZES, deriveWorkload } from './lib/derive-workload.js';

const { values } = parseArgs({ options: { docs: { type: 'string' }, chat: { type: 'string' }, live: { type: 'string' }, profile: { type: 'string' } } });
const q = DERIVE_SIZES.quick;
const rows = await deriveWorkload({
  passThrough: Number(values.docs ?? q.passThrough),
  chat: Number(values.chat ?? values.docs ?? q.chat),
  live: Number(values.live ?? q.live),
  ...(values.profile ? { profile: values.profile } : {}),
});
const f = (n: number | undefined, d = 0) => (n === undefined ? '' : n.toFixed(d));
console.log('| variant | system | backfill docs/s | × hand-written loop | live ack→committed p50 / p99 ms | RSS growth MiB |');
console.log('|---|---|---:|---:|---|---:|');
for (const r of rows) {
  console.log(`| ${r.variant} | ${r.system} | ${f(r.docsps)} | ${f(r.ratioToLimit, 2)} | ${r.p50 === undefined ? '' : `${f(r.p50, 1)} / ${f(r.p99, 1)}`} | ${f(r.peakRssMiB)} |`);
}
