import { setTimeout as sleep } from 'node:timers/promises';
import type { Codec } from '../../src/journal/spec.js';
import type { Server } from './processes.js';
import { shipmentDoc } from './shipments.js';
import { Latencies } from './stats.js';

/** One measured run of a workload. */
export interface Measurement {
  mbps: number;
  docsps: number;
  p50?: number;
  p99?: number;
  p999?: number;
  /** For replay: plain decompression of the same fragments, measured in the same run. */
  decompressMBps?: number;
}

/**
 * What every run is given. `signal` fires when the run is out of time: its loops stop and its
 * waits end, and the harness then restarts the system, whatever the run was still waiting on.
 */
export interface RunOptions {
  signal?: AbortSignal;
}

export interface W1Options extends RunOptions { appenders: number; journals: number; seconds: number; docsPerBatch: number }
export interface W2Options extends RunOptions { connections: number; seconds: number }
export interface W3Options extends RunOptions { bytes: number; codec?: Codec }
export interface W4Options extends RunOptions { rate: number; seconds: number }

/** A system under test: inlet or a peer, driven the way its docs recommend for throughput. */
export interface System {
  readonly name: string;
  readonly settings: string;
  readonly server: Server;
  w1(o: W1Options): Promise<Measurement>;
  w2(o: W2Options): Promise<Measurement>;
  /**
   * W2 as an application writes through the system's own client: `connections` callers, each
   * awaiting its single document's acknowledgement, over one client per process that may
   * coalesce concurrent calls (inlet's `BrokerClient.batching()`, ioredis auto-pipelining, the
   * Durable Streams client's batching, nats.js async publishes on one connection).
   */
  w2Client(o: W2Options): Promise<Measurement>;
  w3(o: W3Options): Promise<Measurement>;
  w4(o: W4Options): Promise<Measurement>;
  stop(): Promise<void>;
}

let runId = 0;
/** A name no earlier run of this bench process used (`w4-7`). */
export const unique = (p: string) => `${p}${++runId}`;

/** Drives `loops` concurrent loops until `seconds` pass; each loop iteration returns bytes and docs it moved. */
export async function timed(loops: number, seconds: number, signal: AbortSignal | undefined, once: (loop: number, lat: Latencies) => Promise<[number, number]>): Promise<Measurement> {
  const lat = new Latencies();
  let bytes = 0;
  let docs = 0;
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: loops }, async (_, l) => {
      while (performance.now() < deadline && !signal?.aborted) {
        const [b, d] = await once(l, lat);
        bytes += b;
        docs += d;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  return { mbps: bytes / 1e6 / secs, docsps: docs / secs, ...lat.percentiles() };
}

/**
 * Produces `rate` documents per second for `seconds`, each carrying its creation time in `t`.
 * `send` gets the documents that came due since its last call (about a millisecond's worth):
 * a peer publishes each as a message; inlet appends them as one small batch. Resolves with the
 * number of documents sent.
 */
export async function paced(rate: number, seconds: number, signal: AbortSignal | undefined, send: (docs: string[]) => void): Promise<number> {
  const t0 = performance.now();
  let made = 0;
  while (performance.now() - t0 < seconds * 1000 && !signal?.aborted) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    const docs: string[] = [];
    for (; made < due; made++) docs.push(shipmentDoc(made, { t: performance.now() }));
    if (docs.length > 0) send(docs);
    await sleep(1);
  }
  return made;
}

/** How long a tailing reader may take, once the producer is done, to receive the last documents. */
export const DRAIN_MS = 10_000;

/** What W4's tailing reader received: each document's creation-to-delivery latency, or why it stopped. */
export class Delivery {
  readonly lat = new Latencies();
  private failure: { err: unknown } | undefined;

  /** Records the error that ended the reader (pass as its promise's catch). */
  readonly fail = (err: unknown): void => {
    this.failure ??= { err };
  };

  /**
   * The latencies at `rate`, once all `sent` documents arrived. Fails when the reader failed, or
   * the documents did not all arrive within DRAIN_MS, or the run was aborted: a latency that
   * leaves out lost documents would flatter the system.
   */
  async measurement(rate: number, sent: number, signal: AbortSignal | undefined): Promise<Measurement> {
    const deadline = performance.now() + DRAIN_MS;
    while (this.lat.count < sent && !this.failure && performance.now() < deadline && !signal?.aborted) await sleep(5);
    if (this.failure) throw this.failure.err;
    if (this.lat.count < sent) {
      throw new Error(`${sent - this.lat.count} of ${sent} documents were not delivered within ${DRAIN_MS / 1000} s of the last append`);
    }
    return { mbps: NaN, docsps: rate, ...this.lat.percentiles() };
  }
}
