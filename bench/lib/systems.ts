import { setMaxListeners } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { AckPolicy, connect, DeliverPolicy, RetentionPolicy, StorageType, type JetStreamClient, type NatsConnection } from 'nats';
import { Pool } from 'undici';
import { decompressor } from '../../src/fragments/codecs.js';
import type { Codec } from '../../src/journal/spec.js';
import { BrokerClient, JournalReader, readDocuments } from '../../src/readers/mod.js';
import { startInlet, startNats, startRedis, type Server } from './processes.js';
import { shipmentBatch, shipmentDoc } from './shipments.js';
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

export interface W1Options { appenders: number; journals: number; seconds: number; docsPerBatch: number }

/** A system under test: inlet or a peer, driven the way its docs recommend for throughput. */
export interface System {
  readonly name: string;
  readonly settings: string;
  readonly server: Server;
  w1(o: W1Options): Promise<Measurement>;
  w2(o: { connections: number; seconds: number }): Promise<Measurement>;
  w3(o: { bytes: number; codec?: Codec }): Promise<Measurement>;
  w4(o: { rate: number; seconds: number }): Promise<Measurement>;
  stop(): Promise<void>;
}

let runId = 0;
const unique = (p: string) => `${p}${++runId}`;

/** Drives `loops` concurrent loops until `seconds` pass; each loop iteration returns bytes and docs it moved. */
async function timed(loops: number, seconds: number, once: (loop: number, lat: Latencies) => Promise<[number, number]>): Promise<Measurement> {
  const lat = new Latencies();
  let bytes = 0;
  let docs = 0;
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: loops }, async (_, l) => {
      while (performance.now() < deadline) {
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
 * a peer publishes each as a message; inlet appends them as one small batch.
 */
async function paced(rate: number, seconds: number, send: (docs: string[]) => void): Promise<void> {
  const t0 = performance.now();
  let made = 0;
  while (performance.now() - t0 < seconds * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    const docs: string[] = [];
    for (; made < due; made++) docs.push(shipmentDoc(made, { t: performance.now() }));
    if (docs.length > 0) send(docs);
    await new Promise((r) => setTimeout(r, 1));
  }
}

export class InletSystem implements System {
  readonly name = 'inlet';
  readonly settings = 'acknowledged = fsync\'d (group commit); NDJSON batches over HTTP/1.1 keep-alive (undici); reads via JournalReader';
  private constructor(readonly server: Server, private readonly dir: string) {}

  static async start(): Promise<InletSystem> {
    const dir = await mkdtemp(join(tmpdir(), 'inlet-bench-'));
    return new InletSystem(await startInlet(join(dir, 'data'), ['--fragment-length', '64MiB']), dir);
  }

  private async create(names: string[]): Promise<void> {
    for (const n of names) await fetch(`${this.server.url}/v1/stream/${n}`, { method: 'PUT', headers: { 'content-type': 'application/x-ndjson' } });
  }

  async w1(o: W1Options, journalNames?: string[]): Promise<Measurement> {
    const prefix = unique('w1-');
    const names = journalNames ?? Array.from({ length: o.journals }, (_, i) => `bench/${prefix}/j${i}`);
    await this.create(names);
    const batches = Array.from({ length: 8 }, (_, i) => shipmentBatch(i, o.docsPerBatch * 200)).map((b) => b);
    const pool = new Pool(this.server.url, { connections: o.appenders });
    let i = 0;
    try {
      return await timed(o.appenders, o.seconds, async (l, lat) => {
        const b = batches[i++ % batches.length]!;
        const t0 = performance.now();
        const res = await pool.request({ method: 'POST', path: `/v1/stream/${names[(l + i) % names.length]}`, headers: { 'content-type': 'application/x-ndjson' }, body: b.body });
        await res.body.dump();
        if (res.statusCode !== 204) throw new Error(`inlet append: ${res.statusCode}`);
        lat.add(performance.now() - t0);
        return [b.body.length, b.docs];
      });
    } finally {
      await pool.close();
    }
  }

  async w2(o: { connections: number; seconds: number }): Promise<Measurement> {
    const name = `bench/${unique('w2-')}`;
    await this.create([name]);
    const pool = new Pool(this.server.url, { connections: o.connections });
    let n = 0;
    try {
      return await timed(o.connections, o.seconds, async (_, lat) => {
        const body = shipmentDoc(n++) + '\n';
        const t0 = performance.now();
        const res = await pool.request({ method: 'POST', path: `/v1/stream/${name}`, headers: { 'content-type': 'application/x-ndjson' }, body });
        await res.body.dump();
        lat.add(performance.now() - t0);
        return [body.length, 1];
      });
    } finally {
      await pool.close();
    }
  }

  /** Persists ~`bytes` of history with `codec`, then reads it from offset 0 with a reader on a fresh broker over the same store. */
  async w3(o: { bytes: number; codec?: Codec }): Promise<Measurement> {
    const codec = o.codec ?? 'gzip';
    const dir = await mkdtemp(join(tmpdir(), 'inlet-replay-'));
    const store = `file://${join(dir, 'lake')}/`;
    const journal = 'bench/replay/pivot=00';
    try {
      const b1 = await startInlet(join(dir, 'd1'), ['--store', store, '--fragment-length', '64MiB', '--compression', codec, '--shutdown-grace', '600s']);
      await fetch(`${b1.url}/v1/stream/${journal}`, { method: 'PUT', headers: { 'content-type': 'application/x-ndjson' } });
      const pool = new Pool(b1.url, { connections: 4 });
      let sent = 0;
      let seed = 0;
      await Promise.all([0, 1, 2, 3].map(async () => {
        while (sent < o.bytes) {
          const { body } = shipmentBatch(seed++, 1 << 20);
          sent += body.length;
          const res = await pool.request({ method: 'POST', path: `/v1/stream/${journal}`, headers: { 'content-type': 'application/x-ndjson' }, body });
          await res.body.dump();
        }
      }));
      await pool.close();
      await b1.stop('SIGTERM'); // persists every spool
      let plain = 0;
      let t0 = performance.now();
      for (const f of await files(join(dir, 'lake', journal))) {
        for await (const c of createReadStream(f, { highWaterMark: 1 << 20 }).pipe(decompressor(codec)) as AsyncIterable<Buffer>) plain += c.length;
      }
      const decompressMBps = plain / 1e6 / ((performance.now() - t0) / 1000);
      const b2 = await startInlet(join(dir, 'd2'), ['--store', store]);
      try {
        const client = new BrokerClient(b2.url);
        t0 = performance.now();
        let read = 0;
        for await (const c of new JournalReader(client, journal)) read += c.data.length;
        const readSecs = (performance.now() - t0) / 1000;
        if (read !== plain) throw new Error(`the reader read ${read} bytes, the fragments hold ${plain}`);
        t0 = performance.now();
        let docs = 0;
        for await (const _ of readDocuments(new JournalReader(client, journal))) docs++;
        const parseSecs = (performance.now() - t0) / 1000;
        return { mbps: read / 1e6 / readSecs, docsps: docs / parseSecs, decompressMBps };
      } finally {
        await b2.stop('SIGKILL');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async w4(o: { rate: number; seconds: number }): Promise<Measurement> {
    const name = `bench/${unique('w4-')}`;
    await this.create([name]);
    const pool = new Pool(this.server.url, { connections: 16 });
    const lat = new Latencies();
    const abort = new AbortController();
    const reader = (async () => {
      const r = new JournalReader(new BrokerClient(this.server.url), name, { offset: 0, follow: true, signal: abort.signal });
      for await (const d of readDocuments<{ t: number }>(r)) lat.add(performance.now() - d.doc.t);
    })().catch(() => undefined);
    const inflight: Promise<unknown>[] = [];
    let docs = 0;
    await paced(o.rate, o.seconds, (batch) => {
      docs += batch.length;
      const body = batch.join('\n') + '\n';
      inflight.push(pool.request({ method: 'POST', path: `/v1/stream/${name}`, headers: { 'content-type': 'application/x-ndjson' }, body }).then((r) => r.body.dump()));
    });
    await Promise.all(inflight);
    while (lat.count < docs) await new Promise((r) => setTimeout(r, 10));
    abort.abort();
    await reader;
    await pool.close();
    return { mbps: NaN, docsps: o.rate, ...lat.percentiles() };
  }

  /** W5: `readers` tailing readers of one journal while `appenders` append batches; delivered MB/s across readers. */
  async w5(o: { readers: number; appenders: number; seconds: number }): Promise<Measurement> {
    const name = `bench/${unique('w5-')}`;
    await this.create([name]);
    const abort = new AbortController();
    setMaxListeners(0, abort.signal); // every reader's requests listen on it
    let delivered = 0;
    const client = new BrokerClient(this.server.url);
    const readers = Array.from({ length: o.readers }, () =>
      (async () => {
        for await (const c of new JournalReader(client, name, { offset: 0, follow: true, signal: abort.signal })) delivered += c.data.length;
      })().catch(() => undefined),
    );
    const t0 = performance.now();
    await this.w1({ appenders: o.appenders, journals: 1, seconds: o.seconds, docsPerBatch: 1000 }, [name]);
    abort.abort();
    await Promise.all(readers);
    const secs = (performance.now() - t0) / 1000;
    return { mbps: delivered / 1e6 / secs, docsps: NaN };
  }

  async stop(): Promise<void> {
    await this.server.stop('SIGKILL');
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else out.push(p);
  }
  return out.sort();
}

export class NatsSystem implements System {
  readonly name = 'NATS JetStream';
  readonly settings = 'nats-server (Debian) with JetStream file storage; nats.js client; one message per document; async publishes, every publish acknowledged (window = batch of 1000 per publisher)';
  private constructor(readonly server: Server, private readonly nc: NatsConnection, private readonly js: JetStreamClient, private readonly dir: string) {}

  static async start(): Promise<NatsSystem> {
    const dir = await mkdtemp(join(tmpdir(), 'nats-bench-'));
    const server = await startNats(dir);
    const nc = await connect({ servers: server.url });
    return new NatsSystem(server, nc, nc.jetstream(), dir);
  }

  private async stream(subjects: string[]): Promise<string> {
    const name = unique('S');
    await (await this.nc.jetstreamManager()).streams.add({ name, subjects, storage: StorageType.File, retention: RetentionPolicy.Limits });
    return name;
  }

  async w1(o: W1Options): Promise<Measurement> {
    const s = unique('w1');
    await this.stream([`${s}.>`]);
    const docs = Array.from({ length: o.docsPerBatch }, (_, i) => Buffer.from(shipmentDoc(i)));
    const bytes = docs.reduce((n, d) => n + d.length, 0);
    let i = 0;
    return timed(o.appenders, o.seconds, async (l, lat) => {
      const subject = `${s}.j${(l + i++) % o.journals}`;
      const t0 = performance.now();
      await Promise.all(docs.map((d) => this.js.publish(subject, d)));
      lat.add(performance.now() - t0);
      return [bytes, docs.length];
    });
  }

  async w2(o: { connections: number; seconds: number }): Promise<Measurement> {
    const s = unique('w2');
    await this.stream([s]);
    let n = 0;
    return timed(o.connections, o.seconds, async (_, lat) => {
      const d = Buffer.from(shipmentDoc(n++));
      const t0 = performance.now();
      await this.js.publish(s, d);
      lat.add(performance.now() - t0);
      return [d.length, 1];
    });
  }

  async w3(o: { bytes: number }): Promise<Measurement> {
    const s = unique('w3');
    const stream = await this.stream([s]);
    let sent = 0;
    let count = 0;
    while (sent < o.bytes) {
      const batch = Array.from({ length: 1000 }, (_, i) => Buffer.from(shipmentDoc(count + i)));
      await Promise.all(batch.map((d) => this.js.publish(s, d)));
      sent += batch.reduce((n, d) => n + d.length, 0);
      count += batch.length;
    }
    const consumer = await this.js.consumers.get(stream); // ordered consumer
    const t0 = performance.now();
    let got = 0;
    let bytes = 0;
    const msgs = await consumer.consume({ max_messages: 10_000 });
    for await (const m of msgs) {
      JSON.parse(m.string());
      bytes += m.data.length;
      if (++got === count) break;
    }
    await msgs.close();
    const secs = (performance.now() - t0) / 1000;
    return { mbps: bytes / 1e6 / secs, docsps: got / secs };
  }

  async w4(o: { rate: number; seconds: number }): Promise<Measurement> {
    const s = unique('w4');
    const stream = await this.stream([s]);
    const jsm = await this.nc.jetstreamManager();
    await jsm.consumers.add(stream, { durable_name: 'lat', ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.New });
    const consumer = await this.js.consumers.get(stream, 'lat');
    const lat = new Latencies();
    const msgs = await consumer.consume();
    let docs = 0;
    let done = false;
    const reading = (async () => {
      for await (const m of msgs) {
        lat.add(performance.now() - (JSON.parse(m.string()) as { t: number }).t);
        if (lat.count >= docs && docs > 0 && done) break;
      }
    })();
    const inflight: Promise<unknown>[] = [];
    await paced(o.rate, o.seconds, (batch) => {
      for (const doc of batch) {
        docs++;
        inflight.push(this.js.publish(s, Buffer.from(doc)));
      }
    });
    await Promise.all(inflight);
    done = true;
    while (lat.count < docs) await new Promise((r) => setTimeout(r, 10));
    await msgs.close();
    await reading;
    return { mbps: NaN, docsps: o.rate, ...lat.percentiles() };
  }

  async stop(): Promise<void> {
    await this.nc.close();
    await this.server.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export class RedisSystem implements System {
  readonly name = 'Redis Streams';
  readonly settings = 'redis-server (Debian), appendonly yes, appendfsync everysec; ioredis; XADD pipelined per batch of 1000, one entry per document';
  private constructor(readonly server: Server, private readonly dir: string) {}

  static async start(): Promise<RedisSystem> {
    const dir = await mkdtemp(join(tmpdir(), 'redis-bench-'));
    return new RedisSystem(await startRedis(dir), dir);
  }

  private client(): Redis {
    return new Redis(this.server.url, { enableAutoPipelining: false, maxRetriesPerRequest: 1 });
  }

  async w1(o: W1Options): Promise<Measurement> {
    const s = unique('w1');
    const clients = Array.from({ length: o.appenders }, () => this.client());
    const docs = Array.from({ length: o.docsPerBatch }, (_, i) => shipmentDoc(i));
    const bytes = docs.reduce((n, d) => n + d.length, 0);
    let i = 0;
    try {
      return await timed(o.appenders, o.seconds, async (l, lat) => {
        const key = `${s}:${(l + i++) % o.journals}`;
        const p = clients[l]!.pipeline();
        for (const d of docs) p.xadd(key, '*', 'd', d);
        const t0 = performance.now();
        await p.exec();
        lat.add(performance.now() - t0);
        return [bytes, docs.length];
      });
    } finally {
      for (const c of clients) c.disconnect();
    }
  }

  async w2(o: { connections: number; seconds: number }): Promise<Measurement> {
    const s = unique('w2');
    const clients = Array.from({ length: o.connections }, () => this.client());
    let n = 0;
    try {
      return await timed(o.connections, o.seconds, async (l, lat) => {
        const d = shipmentDoc(n++);
        const t0 = performance.now();
        await clients[l]!.xadd(s, '*', 'd', d);
        lat.add(performance.now() - t0);
        return [d.length, 1];
      });
    } finally {
      for (const c of clients) c.disconnect();
    }
  }

  async w3(o: { bytes: number }): Promise<Measurement> {
    const s = unique('w3');
    const c = this.client();
    try {
      let sent = 0;
      let count = 0;
      while (sent < o.bytes) {
        const p = c.pipeline();
        for (let i = 0; i < 1000; i++) {
          const d = shipmentDoc(count++);
          sent += d.length;
          p.xadd(s, '*', 'd', d);
        }
        await p.exec();
      }
      const t0 = performance.now();
      let got = 0;
      let bytes = 0;
      let from = '-';
      for (;;) {
        const page = (await c.xrange(s, from, '+', 'COUNT', 10_000)) as [string, string[]][];
        const rows = from === '-' ? page : page.slice(1);
        if (rows.length === 0) break;
        for (const [, fields] of rows) {
          JSON.parse(fields[1]!);
          bytes += fields[1]!.length;
          got++;
        }
        from = page.at(-1)![0];
      }
      const secs = (performance.now() - t0) / 1000;
      if (got !== count) throw new Error(`redis replay read ${got} of ${count}`);
      return { mbps: bytes / 1e6 / secs, docsps: got / secs };
    } finally {
      c.disconnect();
    }
  }

  async w4(o: { rate: number; seconds: number }): Promise<Measurement> {
    const s = unique('w4');
    const producer = this.client();
    const consumer = this.client();
    const lat = new Latencies();
    let docs = 0;
    let stop = false;
    let last = '$';
    const reading = (async () => {
      while (!stop || lat.count < docs) {
        const res = (await consumer.xread('COUNT', 1000, 'BLOCK', 100, 'STREAMS', s, last)) as [string, [string, string[]][]][] | null;
        for (const [, entries] of res ?? []) {
          for (const [id, fields] of entries) {
            lat.add(performance.now() - (JSON.parse(fields[1]!) as { t: number }).t);
            last = id;
          }
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 50)); // the reader is blocked on '$' before the first write
    const inflight: Promise<unknown>[] = [];
    await paced(o.rate, o.seconds, (batch) => {
      for (const doc of batch) {
        docs++;
        inflight.push(producer.xadd(s, '*', 'd', doc));
      }
    });
    await Promise.all(inflight);
    stop = true;
    await reading;
    producer.disconnect();
    consumer.disconnect();
    return { mbps: NaN, docsps: o.rate, ...lat.percentiles() };
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
