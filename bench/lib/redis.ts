import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { scratchDir, startRedis, type Server } from './processes.js';
import { shipmentDoc } from './shipments.js';
import { Delivery, paced, timed, unique, type Measurement, type System, type W1Options, type W2Options, type W3Options, type W4Options } from './systems.js';

export class RedisSystem implements System {
  readonly name = 'Redis Streams';
  readonly settings = 'redis-server (Debian), appendonly yes, appendfsync everysec; ioredis; XADD pipelined per batch of 1000, one entry per document';
  private constructor(readonly server: Server, private readonly dir: { remove(): Promise<void> }) {}

  static async start(): Promise<RedisSystem> {
    const dir = await scratchDir('redis-bench-');
    try {
      return new RedisSystem(await startRedis(dir.path), dir);
    } catch (err) {
      await dir.remove();
      throw err;
    }
  }

  /** `n` connections, disconnected after `fn` whatever happens (ioredis would otherwise reconnect forever). */
  private async with<T>(n: number, fn: (clients: Redis[]) => Promise<T>, enableAutoPipelining = false): Promise<T> {
    const clients = Array.from({ length: n }, () =>
      // Connection errors also fail the commands under way, which is where a run notices them.
      new Redis(this.server.url, { enableAutoPipelining, maxRetriesPerRequest: 1 }).on('error', () => undefined),
    );
    try {
      return await fn(clients);
    } finally {
      for (const c of clients) c.disconnect();
    }
  }

  w1(o: W1Options): Promise<Measurement> {
    const s = unique('w1');
    const docs = Array.from({ length: o.docsPerBatch }, (_, i) => shipmentDoc(i));
    const bytes = docs.reduce((n, d) => n + d.length, 0);
    let i = 0;
    return this.with(o.appenders, (clients) =>
      timed(o.appenders, o.seconds, o.signal, async (l, lat) => {
        const key = `${s}:${(l + i++) % o.journals}`;
        const p = clients[l]!.pipeline();
        for (const d of docs) p.xadd(key, '*', 'd', d);
        const t0 = performance.now();
        await p.exec();
        lat.add(performance.now() - t0);
        return [bytes, docs.length];
      }),
    );
  }

  w2(o: W2Options): Promise<Measurement> {
    const s = unique('w2');
    let n = 0;
    return this.with(o.connections, (clients) =>
      timed(o.connections, o.seconds, o.signal, async (l, lat) => {
        const d = shipmentDoc(n++);
        const t0 = performance.now();
        await clients[l]!.xadd(s, '*', 'd', d);
        lat.add(performance.now() - t0);
        return [d.length, 1];
      }),
    );
  }

  /** One client with ioredis auto-pipelining: the XADDs of one tick go out as one pipeline. */
  w2Client(o: W2Options): Promise<Measurement> {
    const s = unique('w2c');
    let n = 0;
    return this.with(1, ([c]) =>
      timed(o.connections, o.seconds, o.signal, async (_, lat) => {
        const d = shipmentDoc(n++);
        const t0 = performance.now();
        await c!.xadd(s, '*', 'd', d);
        lat.add(performance.now() - t0);
        return [d.length, 1];
      }),
    true);
  }

  w3(o: W3Options): Promise<Measurement> {
    const s = unique('w3');
    return this.with(1, async ([c]) => {
      let sent = 0;
      let count = 0;
      while (sent < o.bytes && !o.signal?.aborted) {
        const p = c!.pipeline();
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
      while (!o.signal?.aborted) {
        const page = (await c!.xrange(s, from, '+', 'COUNT', 10_000)) as [string, string[]][];
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
    });
  }

  w4(o: W4Options): Promise<Measurement> {
    const s = unique('w4');
    return this.with(2, async ([producer, consumer]) => {
      const delivery = new Delivery();
      let stopped = false;
      let last = '$';
      const reading = (async () => {
        while (!stopped) {
          const res = (await consumer!.xread('COUNT', 1000, 'BLOCK', 100, 'STREAMS', s, last)) as [string, [string, string[]][]][] | null;
          for (const [, entries] of res ?? []) {
            for (const [id, fields] of entries) {
              delivery.lat.add(performance.now() - (JSON.parse(fields[1]!) as { t: number }).t);
              last = id;
            }
          }
        }
      })().catch(delivery.fail);
      try {
        await sleep(50); // the reader is blocked on '$' before the first write
        const inflight: Promise<unknown>[] = [];
        const sent = await paced(o.rate, o.seconds, o.signal, (batch) => {
          for (const doc of batch) inflight.push(producer!.xadd(s, '*', 'd', doc));
        });
        await Promise.all(inflight);
        return await delivery.measurement(o.rate, sent, o.signal);
      } finally {
        stopped = true;
        await reading;
      }
    });
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.dir.remove();
  }
}
