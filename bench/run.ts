/**
 * The comparative bench: inlet next to NATS JetStream, Redis Streams, the Durable Streams reference server and the machine's own
 * limits, in one run, on the same generated shipment documents.
 *
 *   npm run bench             # full: ~1 GB replays, 3 repetitions
 *   npm run bench -- --quick  # about a minute, smaller sizes
 *
 * Writes bench/results/latest.json, latest.md and one SVG chart per workload. See bench/README.md.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { DERIVE_SIZES, deriveWorkload } from './lib/derive-workload.js';
import { measure, Slot, type Plan } from './lib/harness.js';
import { InletSystem } from './lib/inlet.js';
import { measureLimits, type Limits } from './lib/limits.js';
import { NatsSystem } from './lib/nats.js';
import { ensureDebianPackage, scratchDir } from './lib/processes.js';
import { RedisSystem } from './lib/redis.js';
import { DurableStreamsSystem } from './lib/durable-streams.js';
import { markdown, writeReport, type Report, type Row } from './lib/report.js';
import { DRAIN_MS, type System } from './lib/systems.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, out: { type: 'string' }, only: { type: 'string' } } });
/** `--only W2,W4` runs just those workloads. */
const only = values.only ? new Set(values.only.split(',').map((w) => w.trim().toUpperCase())) : undefined;
const wanted = (w: string) => !only || only.has(w);
const quick = values.quick!;
const out = values.out ?? fileURLToPath(new URL('../../bench/results/', import.meta.url));
const P = quick
  ? { seconds: 2, reps: 1, replayBytes: 50e6, replayReps: 1, latencySeconds: 2 }
  : { seconds: 5, reps: 3, replayBytes: 1e9, replayReps: 2, latencySeconds: 5 };
/** Each W1, W2 and W4 row first runs its workload this long, unrecorded, on every system. */
const WARMUP_S = 1;
// Hard limits of one repetition: generous, they only keep a stuck system from hanging the bench.
const SETUP_S = 60;
const budget = {
  timed: P.seconds + SETUP_S,
  inletReplay: SETUP_S + (P.replayBytes / 1e6) * 0.5,
  latency: P.latencySeconds + DRAIN_MS / 1000 + SETUP_S,
};

const scratch = await scratchDir('inlet-bench-limits-');
console.error('bench: measuring the machine\'s limits…');
const limits: Limits = await measureLimits(scratch.path, quick);
await scratch.remove();

const rows: Row[] = [];
const slots: Slot[] = [];
try {
  const inlet = await Slot.open(InletSystem.start);
  slots.push(inlet);
  for (const [binary, pkg, start] of [['/usr/sbin/nats-server', 'nats-server', NatsSystem.start], ['/usr/bin/redis-server', 'redis-server', RedisSystem.start]] as const) {
    if (!ensureDebianPackage(binary, pkg)) continue;
    try {
      slots.push(await Slot.open<System>(start));
    } catch (err) {
      console.error(`bench: ${pkg} did not start (${(err as Error).message}); skipping it`);
    }
  }
  try {
    slots.push(await Slot.open<System>(DurableStreamsSystem.start));
  } catch (err) {
    console.error(`bench: the Durable Streams reference server did not start (${(err as Error).message}); skipping it`);
  }
  const row = async <S extends System>(slot: Slot<S>, plan: Plan<S>) => void rows.push(await measure(slot, plan));

  const disk = { name: "fsync'd disk", mbps: limits.fsyncDiskMBps };
  const tcp = { name: 'loopback TCP', mbps: limits.loopbackTcpMBps };
  for (const journals of wanted('W1') ? [1, 64] : []) {
    for (const s of slots) {
      await row(s, {
        workload: 'W1 append throughput', variant: `1000-doc batches, 8 appenders, ${journals} journal${journals > 1 ? 's' : ''}`,
        reps: P.reps, budgetSeconds: budget.timed, limit: disk,
        run: (sys, signal) => sys.w1({ appenders: 8, journals, seconds: P.seconds, docsPerBatch: 1000, signal }),
        warmup: (sys, signal) => sys.w1({ appenders: 8, journals, seconds: WARMUP_S, docsPerBatch: 1000, signal }),
      });
    }
  }
  for (const s of wanted('W2') ? slots : []) {
    await row(s, {
      workload: 'W2 small appends', variant: 'single documents, 64 connections', reps: P.reps, budgetSeconds: budget.timed, limit: disk,
      run: (sys, signal) => sys.w2({ connections: 64, seconds: P.seconds, signal }),
      warmup: (sys, signal) => sys.w2({ connections: 64, seconds: WARMUP_S, signal }),
    });
  }
  for (const s of wanted('W2') ? slots : []) {
    await row(s, {
      workload: 'W2 small appends', variant: 'single documents, 64 callers, one client per process', reps: P.reps, budgetSeconds: budget.timed, limit: disk,
      run: (sys, signal) => sys.w2Client({ connections: 64, seconds: P.seconds, signal }),
      warmup: (sys, signal) => sys.w2Client({ connections: 64, seconds: WARMUP_S, signal }),
    });
  }
  for (const codec of wanted('W3') ? (['gzip', 'zstd'] as const) : []) {
    await row(inlet, {
      workload: 'W3 history replay', variant: `${(P.replayBytes / 1e6).toFixed(0)} MB, ${codec} fragments, Reader from offset 0`,
      reps: P.replayReps, budgetSeconds: budget.inletReplay,
      run: (sys, signal) => sys.w3({ bytes: P.replayBytes, codec, signal }),
    });
  }
  // Peers load history one message per document (NATS ~3 MB/s here), so their replay history is capped.
  const peerReplay = Math.min(P.replayBytes, 100e6);
  for (const s of wanted('W3') ? slots.slice(1).filter((s) => !s.name.startsWith('Durable Streams')) : []) {
    await row(s, {
      workload: 'W3 history replay', variant: `${(peerReplay / 1e6).toFixed(0)} MB, read from the start`, reps: P.replayReps,
      budgetSeconds: SETUP_S + (peerReplay / 1e6) * 1.5, limit: tcp,
      run: (sys, signal) => sys.w3({ bytes: peerReplay, signal }),
    });
  }
  for (const s of wanted('W4') ? slots : []) {
    await row(s, {
      workload: 'W4 end-to-end latency', variant: '5,000 docs/s, one tailing reader', reps: P.reps, budgetSeconds: budget.latency,
      run: (sys, signal) => sys.w4({ rate: 5000, seconds: P.latencySeconds, signal }),
      warmup: (sys, signal) => sys.w4({ rate: 5000, seconds: WARMUP_S, signal }),
    });
  }
  if (wanted('W5')) {
    await row(inlet, {
      workload: 'W5 fan-out', variant: '16 tailing readers under W1 load (8 appenders, 1 journal)', reps: P.reps, budgetSeconds: budget.timed, limit: tcp,
      run: (sys, signal) => sys.w5({ readers: 16, appenders: 8, seconds: P.seconds, signal }),
    });
  }
} finally {
  for (const s of slots) await s.stop().catch(() => undefined);
}
// D: derivations, with the machine to themselves (the other systems are stopped).
if (wanted('D')) rows.push(...(await deriveWorkload(quick ? DERIVE_SIZES.quick : DERIVE_SIZES.full)));

// Ratios to the best peer of the same workload and variant family.
for (const row of rows) {
  if (row.system !== 'inlet' || row.failed) continue;
  const peers = rows.filter((p) => p.system !== 'inlet' && p.system !== 'hand-written loop' && !p.failed && p.workload === row.workload && (row.workload.startsWith('W3') || p.variant === row.variant));
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
    ...slots.map((s) => [s.name, s.settings] as const),
    ['sizes', `${P.seconds}s per run, ${P.reps} repetitions (replay: ${P.replayReps}), ~200-byte shipment documents from a fixed seed; a repetition that fails or exceeds its time limit marks its row failed`],
    ['W3', 'inlet: MB/s of the Reader alone against plain decompression of the same fragment files; docs/s of a second pass that parses every document. Peers: one pass that parses every message; their history is at most 100 MB because loading it one message per document is slow'],
    ['D', 'derivations in-process (bench/lib/derive-workload.ts): N source documents in the lake backfilled, then single documents ingested one at a time (p50/p99: source ack → derived document committed and read). × limit: docs/s over the hand-written loop\'s on the same documents. Peak RSS column: inlet, the bench process once backfilled; loop and d2ts, RSS growth over their run'],
    ['W4', 'documents are created at 5,000/s, each stamped with its creation time; inlet appends what came due each millisecond as one NDJSON append, the peers publish each document as a message; latency = delivery to the tailing reader minus creation. Ratio: best peer p99 / inlet p99 (above 1: inlet is faster)'],
  ]),
  limits,
  rows,
};
await writeReport(out, report);
process.stdout.write(markdown(report));
// A run abandoned on timeout may still hold sockets whose clients retry; they must not keep the bench alive.
process.exit(rows.some((r) => r.failed) ? 1 : 0);
