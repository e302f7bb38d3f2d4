import { fileURLToPath } from 'node:url';
import { DurableStream } from '@durable-streams/client';
import { Pool } from 'undici';
import { scratchDir, startNodeServer, type Server } from './processes.js';
import { shipmentDoc } from './shipments.js';
import { StreamAppends } from './http-appends.js';
import { Delivery, timed, unique, type Measurement, type System, type W1Options, type W2Options, type W3Options, type W4Options } from './systems.js';

const LAUNCHER = fileURLToPath(new URL('./durable-streams-server.mjs', import.meta.url)).replace('/dist/bench/', '/bench/');

/**
 * The Durable Streams reference server (@durable-streams/server, Node): the same protocol as
 * inlet's stream API, file-backed (log files fdatasync'd per append, LMDB metadata). Driven
 * exactly as inlet is in W1, W2 and W4 (same HTTP client, same bodies).
 */
export class DurableStreamsSystem implements System {
  readonly name = 'Durable Streams (reference server)';
  readonly settings = '@durable-streams/server file-backed data dir (fdatasync per append); NDJSON over HTTP/1.1 keep-alive (undici); reads by long-poll';
  private readonly http: StreamAppends;
  private constructor(readonly server: Server, private readonly dir: { remove(): Promise<void> }) {
    this.http = new StreamAppends(server.url, '/v1/stream', 'durable streams');
  }

  static async start(): Promise<DurableStreamsSystem> {
    const dir = await scratchDir('ds-bench-');
    try {
      return new DurableStreamsSystem(await startNodeServer('the Durable Streams server', [LAUNCHER, dir.path]), dir);
    } catch (err) {
      await dir.remove();
      throw err;
    }
  }

  async w1(o: W1Options): Promise<Measurement> {
    const names = Array.from({ length: o.journals }, (_, i) => `bench/${unique('a')}/j${i}`);
    await this.http.create(names);
    const batches = Array.from({ length: 8 }, (_, k) => Array.from({ length: o.docsPerBatch }, (_, d) => shipmentDoc(k * o.docsPerBatch + d) + '\n').join(''));
    return this.http.loop(names, o.appenders, o, (i) => ({ data: batches[i % batches.length]!, docs: o.docsPerBatch }));
  }

  async w2(o: W2Options): Promise<Measurement> {
    const name = `bench/${unique('w2-')}`;
    await this.http.create([name]);
    return this.http.loop([name], o.connections, o, (i) => ({ data: shipmentDoc(i) + '\n', docs: 1 }));
  }

  /** One `DurableStream` handle of the protocol's own client, with its batching (on by default). */
  async w2Client(o: W2Options): Promise<Measurement> {
    const name = `bench/${unique('w2c-')}`;
    await this.http.create([name]);
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
    await this.http.create([name]);
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
      const sent = await this.http.paced(name, o);
      return await delivery.measurement(o.rate, sent, o.signal);
    } finally {
      stop.abort();
      await reader;
      await reads.close();
    }
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.dir.remove();
  }
}
