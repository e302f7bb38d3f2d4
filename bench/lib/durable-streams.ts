import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DurableStream } from '@durable-streams/client';
import { Pool } from 'undici';
import { scratchDir, track, wrap, type Server } from './processes.js';
import { shipmentDoc } from './shipments.js';
import { Delivery, paced, timed, unique, type Measurement, type System, type W1Options, type W2Options, type W3Options, type W4Options } from './systems.js';

const NDJSON = { 'content-type': 'application/x-ndjson' };
const LAUNCHER = fileURLToPath(new URL('./durable-streams-server.mjs', import.meta.url)).replace('/dist/bench/', '/bench/');

/**
 * The Durable Streams reference server (@durable-streams/server, Node): the same protocol as
 * inlet's stream API, file-backed (log files fdatasync'd per append, LMDB metadata). Driven
 * exactly as inlet is in W1, W2 and W4 (same HTTP client, same bodies).
 */
export class DurableStreamsSystem implements System {
  readonly name = 'Durable Streams (reference server)';
  readonly settings = '@durable-streams/server file-backed data dir (fdatasync per append); NDJSON over HTTP/1.1 keep-alive (undici); reads by long-poll';
  private constructor(readonly server: Server, private readonly dir: { remove(): Promise<void> }) {}

  static async start(): Promise<DurableStreamsSystem> {
    const dir = await scratchDir('ds-bench-');
    try {
      const proc = track(spawn(process.execPath, [LAUNCHER, dir.path], { stdio: ['ignore', 'pipe', 'inherit'] }));
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        proc.stdout!.on('data', (c: Buffer) => {
          out += c;
          const m = out.match(/listening on (\S+)/);
          if (m) resolve(m[1]!);
        });
        proc.once('exit', (code) => reject(new Error(`the Durable Streams server exited ${code}`)));
      });
      return new DurableStreamsSystem(wrap(proc, url), dir);
    } catch (err) {
      await dir.remove();
      throw err;
    }
  }

  private async create(names: string[]): Promise<void> {
    for (const n of names) {
      const res = await fetch(`${this.server.url}/v1/stream/${n}`, { method: 'PUT', headers: NDJSON });
      if (res.status >= 300) throw new Error(`durable streams create ${n}: ${res.status}`);
    }
  }

  private async loop(names: string[], connections: number, o: { seconds: number; signal?: AbortSignal }, body: (i: number) => { data: string; docs: number }): Promise<Measurement> {
    const pool = new Pool(this.server.url, { connections });
    let i = 0;
    try {
      return await timed(connections, o.seconds, o.signal, async (l, lat) => {
        const b = body(i++);
        const t0 = performance.now();
        const res = await pool.request({ method: 'POST', path: `/v1/stream/${names[(l + i) % names.length]}`, headers: NDJSON, body: b.data });
        await res.body.dump();
        if (res.statusCode >= 300) throw new Error(`durable streams append: ${res.statusCode}`);
        lat.add(performance.now() - t0);
        return [Buffer.byteLength(b.data), b.docs];
      });
    } finally {
      await pool.close();
    }
  }

  async w1(o: W1Options): Promise<Measurement> {
    const names = Array.from({ length: o.journals }, (_, i) => `bench/${unique('a')}/j${i}`);
    await this.create(names);
    const batches = Array.from({ length: 8 }, (_, k) => Array.from({ length: o.docsPerBatch }, (_, d) => shipmentDoc(k * o.docsPerBatch + d) + '\n').join(''));
    return this.loop(names, o.appenders, o, (i) => ({ data: batches[i % batches.length]!, docs: o.docsPerBatch }));
  }

  async w2(o: W2Options): Promise<Measurement> {
    const name = `bench/${unique('w2-')}`;
    await this.create([name]);
    return this.loop([name], o.connections, o, (i) => ({ data: shipmentDoc(i) + '\n', docs: 1 }));
  }

  /** One `DurableStream` handle of the protocol's own client, with its batching (on by default). */
  async w2Client(o: W2Options): Promise<Measurement> {
    const name = `bench/${unique('w2c-')}`;
    await this.create([name]);
    const stream = new DurableStream({ url: `${this.server.url}/v1/stream/${name}`, contentType: 'application/x-ndjson', batching: true });
    let n = 0;
    return timed(o.connections, o.seconds, o.signal, async (_, lat) => {
      const doc = shipmentDoc(n++) + '\n';
      const t0 = performance.now();
      await stream.append(doc);
      lat.add(performance.now() - t0);
      return [Buffer.byteLength(doc), 1];
    });
  }

  w3(_o: W3Options): Promise<Measurement> {
    throw new Error('W3 (replay of lake fragments) is inlet only');
  }

  async w4(o: W4Options): Promise<Measurement> {
    const name = `bench/${unique('w4-')}`;
    await this.create([name]);
    const pool = new Pool(this.server.url, { connections: 16 });
    const reads = new Pool(this.server.url, { connections: 1 });
    const delivery = new Delivery();
    const stop = new AbortController();
    const reader = (async () => {
      let offset = '-1';
      let partial = '';
      while (!stop.signal.aborted) {
        const res = await reads.request({ method: 'GET', path: `/v1/stream/${name}?offset=${encodeURIComponent(offset)}&live=long-poll`, signal: stop.signal });
        const text = await res.body.text();
        if (res.statusCode >= 300 && res.statusCode !== 304) throw new Error(`durable streams read: ${res.statusCode}`);
        offset = String(res.headers['stream-next-offset'] ?? offset);
        const lines = (partial + text).split('\n');
        partial = lines.pop()!;
        for (const l of lines) if (l) delivery.lat.add(performance.now() - (JSON.parse(l) as { t: number }).t);
      }
    })().catch((err: unknown) => {
      if (!stop.signal.aborted) delivery.fail(err);
    });
    try {
      const inflight: Promise<unknown>[] = [];
      const sent = await paced(o.rate, o.seconds, o.signal, (batch) => {
        const body = batch.join('\n') + '\n';
        inflight.push(pool.request({ method: 'POST', path: `/v1/stream/${name}`, headers: NDJSON, body }).then((r) => r.body.dump()));
      });
      await Promise.all(inflight);
      return await delivery.measurement(o.rate, sent, o.signal);
    } finally {
      stop.abort();
      await reader;
      await pool.close();
      await reads.close();
    }
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.dir.remove();
  }
}
