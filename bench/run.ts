/**
 * The comparative bench: inlet next to NATS JetStream and Redis Streams and the machine's own
 * limits, in one run, on the same generated shipment documents.
 *
 *   npm run bench             # full: ~1 GB replays, 3 repetitions
 *   npm run bench -- --quick  # about a minute, smaller sizes
 *
 * Writes bench/results/latest.json, latest.md and one SVG chart per workload. See bench/README.md.
 */
import { cpus, tmpdir } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { measureLimits, type Limits } from './lib/limits.js';
import { ensureDebianPackage } from './lib/processes.js';
import { markdown, writeReport, type Report, type Row } from './lib/report.js';
import { summarize } from './lib/stats.js';
import { InletSystem, NatsSystem, RedisSystem, type Measurement, type System } from './lib/systems.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, out: { type: 'string' }, only: { type: 'string' } } });
/** `--only W2,W4` runs just those workloads. */
const only = values.only ? new Set(values.only.split(',').map((w) => w.trim().toUpperCase())) : undefined;
const wanted = (w: string) => !only || only.has(w);
const quick = values.quick!;
const out = values.out ?? fileURLToPath(new URL('../../bench/results/', import.meta.url));
const P = quick
  ? { seconds: 2, reps: 1, replayBytes: 50e6, replayReps: 1, latencySeconds: 2 }
  : { seconds: 5, reps: 3, replayBytes: 1e9, replayReps: 2, latencySeconds: 5 };

const scratch = await mkdtemp(join(tmpdir(), 'inlet-bench-limits-'));
console.error('bench: measuring the machine\'s limits…');
const limits: Limits = await measureLimits(scratch, quick);
await rm(scratch, { recursive: true, force: true });

const systems: System[] = [await InletSystem.start()];
if (ensureDebianPackage('/usr/sbin/nats-server', 'nats-server')) systems.push(await NatsSystem.start());
if (ensureDebianPackage('/usr/bin/redis-server', 'redis-server')) systems.push(await RedisSystem.start());
const inlet = systems[0] as InletSystem;

const rows: Row[] = [];
async function measure(workload: string, variant: string, system: System, reps: number, run: () => Promise<Measurement>, limit?: { name: string; mbps: number }) {
  console.error(`bench: ${workload} ${variant} · ${system.name}`);
  const runs: Measurement[] = [];
  for (let i = 0; i < reps; i++) runs.push(await run());
  const byMbps = [...runs].sort((a, b) => (a.mbps || a.p99 || 0) - (b.mbps || b.p99 || 0));
  const mid = byMbps[Math.floor(byMbps.length / 2)]!;
  const row: Row = {
    workload,
    variant,
    system: system.name,
    reps,
    mbps: summarize(runs.map((r) => r.mbps)),
    docsps: mid.docsps,
    ...(mid.p50 !== undefined ? { p50: mid.p50, p99: mid.p99, p999: mid.p999 } : {}),
    peakRssMiB: system.server.peakRssMiB(),
  };
  const lim = mid.decompressMBps !== undefined ? { name: 'plain decompression of the same fragments', mbps: mid.decompressMBps } : limit;
  if (lim && !Number.isNaN(row.mbps.median)) {
    row.limit = lim;
    row.ratioToLimit = row.mbps.median / lim.mbps;
  }
  rows.push(row);
}

const disk = { name: "fsync'd disk", mbps: limits.fsyncDiskMBps };
const tcp = { name: 'loopback TCP', mbps: limits.loopbackTcpMBps };
try {
  for (const journals of wanted('W1') ? [1, 64] : []) {
    for (const s of systems) {
      await measure('W1 append throughput', `1000-doc batches, 8 appenders, ${journals} journal${journals > 1 ? 's' : ''}`, s, P.reps,
        () => s.w1({ appenders: 8, journals, seconds: P.seconds, docsPerBatch: 1000 }), disk);
    }
  }
  for (const s of wanted('W2') ? systems : []) {
    await measure('W2 small appends', 'single documents, 64 connections', s, P.reps, () => s.w2({ connections: 64, seconds: P.seconds }), disk);
  }
  for (const codec of wanted('W3') ? (['gzip', 'zstd'] as const) : []) {
    await measure('W3 history replay', `${(P.replayBytes / 1e6).toFixed(0)} MB, ${codec} fragments, Reader from offset 0`, inlet, P.replayReps, () => inlet.w3({ bytes: P.replayBytes, codec }));
  }
  // Peers load history one message per document (NATS ~3 MB/s here), so their replay history is capped.
  const peerReplay = Math.min(P.replayBytes, 100e6);
  for (const s of wanted('W3') ? systems.slice(1) : []) {
    await measure('W3 history replay', `${(peerReplay / 1e6).toFixed(0)} MB, read from the start`, s, P.replayReps, () => s.w3({ bytes: peerReplay }), tcp);
  }
  for (const s of wanted('W4') ? systems : []) {
    await measure('W4 end-to-end latency', '5,000 docs/s, one tailing reader', s, P.reps, () => s.w4({ rate: 5000, seconds: P.latencySeconds }));
  }
  if (wanted('W5')) await measure('W5 fan-out', '16 tailing readers under W1 load (8 appenders, 1 journal)', inlet, P.reps, () => inlet.w5({ readers: 16, appenders: 8, seconds: P.seconds }), tcp);
} finally {
  for (const s of systems) await s.stop().catch(() => undefined);
}

// Ratios to the best peer of the same workload and variant family.
for (const row of rows) {
  if (row.system !== 'inlet') continue;
  const peers = rows.filter((p) => p.system !== 'inlet' && p.workload === row.workload && (row.workload.startsWith('W3') || p.variant === row.variant));
  if (peers.length === 0) continue;
  if (row.workload.startsWith('W4')) {
    const best = Math.min(...peers.map((p) => p.p99 ?? Infinity));
    row.ratioToBestPeer = best / (row.p99 ?? NaN); // > 1: inlet's p99 is lower
  } else {
    row.ratioToBestPeer = row.mbps.median / Math.max(...peers.map((p) => p.mbps.median));
  }
}

const report: Report = {
  startedAt: new Date().toISOString(),
  quick,
  machine: { cpus: cpus().length, node: process.version },
  settings: Object.fromEntries([
    ...systems.map((s) => [s.name, s.settings] as const),
    ['sizes', `${P.seconds}s per run, ${P.reps} repetitions (replay: ${P.replayReps}), ~200-byte shipment documents from a fixed seed, 1 s warm-up excluded where noted`],
    ['W3', 'inlet: MB/s of the Reader alone against plain decompression of the same fragment files; docs/s of a second pass that parses every document. Peers: one pass that parses every message; their history is at most 100 MB because loading it one message per document is slow'],
    ['W4', 'documents are created at 5,000/s, each stamped with its creation time; inlet appends what came due each millisecond as one NDJSON append, the peers publish each document as a message; latency = delivery to the tailing reader minus creation. Ratio: best peer p99 / inlet p99 (above 1: inlet is faster)'],
  ]),
  limits,
  rows,
};
await writeReport(out, report);
process.stdout.write(markdown(report));
