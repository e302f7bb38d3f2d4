import { liveServers } from './processes.js';
import type { Row } from './report.js';
import { summarize } from './stats.js';
import type { Measurement, System } from './systems.js';

/**
 * One system under test, kept running across workloads. After a run that failed or timed out it
 * is restarted, so a stuck peer costs one row, not the rest of the bench; if it cannot be
 * restarted, its later rows fail at once.
 */
export class Slot<S extends System = System> {
  private broken: string | undefined;

  private constructor(private readonly start: () => Promise<S>, private current: S) {}

  static async open<S extends System>(start: () => Promise<S>): Promise<Slot<S>> {
    return new Slot(start, await start());
  }

  get name(): string {
    return this.current.name;
  }

  get settings(): string {
    return this.current.settings;
  }

  get system(): S {
    if (this.broken) throw new Error(this.broken);
    return this.current;
  }

  /** Kills the system's server (its state is not worth a clean shutdown) and starts a new system. */
  async restart(): Promise<void> {
    await this.current.server.stop('SIGKILL');
    await this.current.stop().catch(() => undefined);
    try {
      this.current = await this.start();
      this.broken = undefined;
    } catch (err) {
      this.broken = `${this.current.name} could not be restarted after a failed run: ${(err as Error).message}`;
    }
  }

  async stop(): Promise<void> {
    await this.current.stop();
  }
}

/** A run that did not finish within its budget. */
class RunTimeout extends Error {
  override readonly name = 'RunTimeout';
  constructor(readonly seconds: number) {
    super(`timed out after ${seconds} s`);
  }
}

/**
 * One run of `run` on the slot's system, given `budgetSeconds`. When it fails or runs out of
 * time, its signal fires and the servers it started itself (W3's brokers) are killed before the
 * error is thrown.
 */
async function once<S extends System>(slot: Slot<S>, budgetSeconds: number, run: (s: S, signal: AbortSignal) => Promise<Measurement>): Promise<Measurement> {
  const system = slot.system;
  const before = new Set(liveServers());
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const work = run(system, abort.signal);
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RunTimeout(budgetSeconds)), budgetSeconds * 1000);
      }),
    ]);
  } catch (err) {
    abort.abort();
    work.catch(() => undefined); // a run abandoned on timeout fails later, against stopped servers
    for (const p of liveServers()) if (!before.has(p)) p.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

export interface Plan<S extends System> {
  workload: string;
  variant: string;
  reps: number;
  /** Hard limit of one repetition, in seconds. */
  budgetSeconds: number;
  /** The limit the row's MB/s is compared with (replay rows bring their own). */
  limit?: { name: string; mbps: number };
  run: (s: S, signal: AbortSignal) => Promise<Measurement>;
  /**
   * A short run of the same workload before the repetitions, not recorded: every system gets
   * one, so no row measures JIT compilation, connection set-up or a server's first files.
   */
  warmup?: (s: S, signal: AbortSignal) => Promise<Measurement>;
}

/**
 * Runs `plan.reps` repetitions and summarizes them as one row: MB/s median and spread, the other
 * figures from the median run. A repetition that fails or times out ends the row, which is then
 * marked failed with the reason (and keeps what the repetitions before it measured), and the
 * system is restarted for the next row.
 */
export async function measure<S extends System>(slot: Slot<S>, plan: Plan<S>): Promise<Row> {
  console.error(`bench: ${plan.workload} ${plan.variant} · ${slot.name}`);
  const runs: Measurement[] = [];
  let failed: string | undefined;
  let peakRssMiB = NaN;
  if (plan.warmup) {
    try {
      await once(slot, plan.budgetSeconds, plan.warmup);
    } catch (err) {
      failed = `warm-up: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
      console.error(`bench: failed: ${failed}`);
    }
  }
  for (let i = 0; i < plan.reps && !failed; i++) {
    try {
      runs.push(await once(slot, plan.budgetSeconds, plan.run));
    } catch (err) {
      failed = `repetition ${i + 1} of ${plan.reps}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
      console.error(`bench: failed: ${failed}`);
    }
    peakRssMiB = peakRss(slot);
  }
  if (failed) await slot.restart();
  const byValue = [...runs].sort((a, b) => (a.mbps || a.p99 || 0) - (b.mbps || b.p99 || 0));
  const mid = byValue[Math.floor(byValue.length / 2)];
  const row: Row = {
    workload: plan.workload,
    variant: plan.variant,
    system: slot.name,
    reps: runs.length,
    mbps: summarize(runs.map((r) => r.mbps)),
    docsps: mid?.docsps ?? NaN,
    ...(mid?.p50 !== undefined ? { p50: mid.p50, p99: mid.p99, p999: mid.p999 } : {}),
    peakRssMiB,
    ...(failed ? { failed } : {}),
  };
  const lim = mid?.decompressMBps !== undefined ? { name: 'plain decompression of the same fragments', mbps: mid.decompressMBps } : plan.limit;
  if (lim && !Number.isNaN(row.mbps.median)) {
    row.limit = lim;
    row.ratioToLimit = row.mbps.median / lim.mbps;
  }
  return row;
}

function peakRss(slot: Slot): number {
  try {
    return slot.system.server.peakRssMiB();
  } catch {
    return NaN;
  }
}
