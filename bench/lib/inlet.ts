import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { Pool } from 'undici';
import { BrokerClient, JournalReader, readDocuments } from '../../src/readers/mod.js';
import { scratchDir, startInlet, type Server } from './processes.js';
import { replayHistory, type Replay } from './replay.js';
import { DOC_BYTES, shipmentBatch, shipmentDoc } from './shipments.js';
import { StreamAppends } from './http-appends.js';
import { Delivery, timed, unique, type Measurement, type RunOptions, type System, type W1Options, type W2Options, type W3Options, type W4Options } from './systems.js';

/** Acknowledged appends of whole batches: what W1 and W5 load a broker with, and `bench:append` sweeps. */
export interface AppendLoad extends RunOptions {
  appenders: number;
  seconds: number;
  /** Size of each NDJSON batch (whole ~200-byte documents, at least one). */
  batchBytes: number;
  /** Journals to spread the batches over: a count of new ones, or the names of existing ones. */
  journals: number | string[];
}

export class InletSystem implements System {
  readonly name = 'inlet';
  readonly settings = 'acknowledged = fsync\'d (group commit); NDJSON batches over HTTP/1.1 keep-alive (undici); reads via JournalReader';
  private readonly http: StreamAppends;
  private constructor(readonly server: Server, private readonly dir: { remove(): Promise<void> }) {
    this.http = new StreamAppends(server.url, '/v1/stream', 'inlet');
  }

  static async start(): Promise<InletSystem> {
    const dir = await scratchDir('inlet-bench-');
    try {
      return new InletSystem(await startInlet(join(dir.path, 'data'), ['--fragment-length', '64MiB']), dir);
    } catch (err) {
      await dir.remove();
      throw err;
    }
  }

  /** `appenders` loops, each appending one batch and waiting for its acknowledgement (= fsync'd) before the next. */
  async appendBatches(o: AppendLoad): Promise<Measurement> {
    const names = typeof o.journals === 'number' ? Array.from({ length: o.journals }, (_, i) => `bench/${unique('a')}/j${i}`) : o.journals;
    if (typeof o.journals === 'number') await this.http.create(names);
    const batches = Array.from({ length: 8 }, (_, i) => shipmentBatch(i, o.batchBytes));
    return this.http.loop(names, o.appenders, o, (i) => {
      const b = batches[i % batches.length]!;
      return { data: b.body, docs: b.docs };
    });
  }

  w1(o: W1Options): Promise<Measurement> {
    return this.appendBatches({ ...o, batchBytes: o.docsPerBatch * DOC_BYTES });
  }

  async w2(o: W2Options): Promise<Measurement> {
    const name = `bench/${unique('w2-')}`;
    await this.http.create([name]);
    return this.http.loop([name], o.connections, o, (i) => ({ data: shipmentDoc(i) + '\n', docs: 1 }));
  }

  async w2Client(o: W2Options): Promise<Measurement> {
    const name = `bench/${unique('w2c-')}`;
    await this.http.create([name]);
    const pool = new Pool(this.server.url, { connections: 8 });
    const appender = new BrokerClient(this.server.url, { dispatcher: pool }).batching();
    let n = 0;
    try {
      return await timed(o.connections, o.seconds, o.signal, async (_, lat) => {
        const doc = shipmentDoc(n++) + '\n';
        const t0 = performance.now();
        await appender.append(name, doc);
        lat.add(performance.now() - t0);
        return [doc.length, 1];
      });
    } finally {
      await pool.close();
    }
  }

  /** Replays history persisted by a broker of its own (this one's data dir is not involved). */
  w3(o: W3Options): Promise<Replay> {
    return replayHistory(o);
  }

  async w4(o: W4Options): Promise<Measurement> {
    const name = `bench/${unique('w4-')}`;
    await this.http.create([name]);
    const delivery = new Delivery();
    const stop = new AbortController();
    const reader = (async () => {
      const r = new JournalReader(new BrokerClient(this.server.url), name, { offset: 0, follow: true, signal: stop.signal });
      for await (const d of readDocuments<{ t: number }>(r)) delivery.lat.add(performance.now() - d.doc.t);
    })().catch(delivery.fail);
    try {
      const sent = await this.http.paced(name, o);
      return await delivery.measurement(o.rate, sent, o.signal);
    } finally {
      stop.abort();
      await reader;
    }
  }

  /** W5: `readers` tailing readers of one journal while `appenders` append batches; delivered MB/s across readers. */
  async w5(o: RunOptions & { readers: number; appenders: number; seconds: number }): Promise<Measurement> {
    const name = `bench/${unique('w5-')}`;
    await this.http.create([name]);
    const stop = new AbortController();
    setMaxListeners(0, stop.signal); // every reader's requests listen on it
    let delivered = 0;
    let failure: unknown;
    const client = new BrokerClient(this.server.url);
    const readers = Array.from({ length: o.readers }, () =>
      (async () => {
        for await (const c of new JournalReader(client, name, { offset: 0, follow: true, signal: stop.signal })) delivered += c.data.length;
      })().catch((err: unknown) => (failure ??= err)),
    );
    const t0 = performance.now();
    try {
      await this.appendBatches({ appenders: o.appenders, journals: [name], seconds: o.seconds, batchBytes: 1000 * DOC_BYTES, signal: o.signal });
    } finally {
      stop.abort();
      await Promise.all(readers);
    }
    if (failure) throw failure;
    const secs = (performance.now() - t0) / 1000;
    return { mbps: delivered / 1e6 / secs, docsps: NaN };
  }

  async stop(): Promise<void> {
    await this.server.stop('SIGKILL');
    await this.dir.remove();
  }
}
