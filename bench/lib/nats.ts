import { AckPolicy, connect, DeliverPolicy, RetentionPolicy, StorageType, type JetStreamClient, type NatsConnection } from 'nats';
import { scratchDir, startNats, type Server } from './processes.js';
import { shipmentDoc } from './shipments.js';
import { Delivery, paced, timed, unique, type Measurement, type System, type W1Options, type W2Options, type W3Options, type W4Options } from './systems.js';

/*
 * Ending a consume() loop: nats.js (2.29) stops a pull consumer's messages by queueing the stop
 * onto the iteration itself, so `close()` resolves only while a `for await` is still iterating.
 * A loop that `break`s first leaves a later `close()` pending forever; this hung W4 whenever
 * the last message arrived after the producer had finished. So loops here never break: `stop()`
 * is called, from inside the loop (W3) or from outside (W4), and the loop runs to its end.
 */

export class NatsSystem implements System {
  readonly name = 'NATS JetStream';
  readonly settings = 'nats-server (Debian) with JetStream file storage; nats.js client; one message per document; async publishes, every publish acknowledged (window = batch of 1000 per publisher)';
  private constructor(readonly server: Server, private readonly nc: NatsConnection, private readonly js: JetStreamClient, private readonly dir: { remove(): Promise<void> }) {}

  static async start(): Promise<NatsSystem> {
    const dir = await scratchDir('nats-bench-');
    let server: Server | undefined;
    try {
      server = await startNats(dir.path);
      const nc = await connect({ servers: server.url });
      return new NatsSystem(server, nc, nc.jetstream(), dir);
    } catch (err) {
      await server?.stop('SIGKILL');
      await dir.remove();
      throw err;
    }
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
    return timed(o.appenders, o.seconds, o.signal, async (l, lat) => {
      const subject = `${s}.j${(l + i++) % o.journals}`;
      const t0 = performance.now();
      await Promise.all(docs.map((d) => this.js.publish(subject, d)));
      lat.add(performance.now() - t0);
      return [bytes, docs.length];
    });
  }

  async w2(o: W2Options): Promise<Measurement> {
    const s = unique('w2');
    await this.stream([s]);
    let n = 0;
    return timed(o.connections, o.seconds, o.signal, async (_, lat) => {
      const d = Buffer.from(shipmentDoc(n++));
      const t0 = performance.now();
      await this.js.publish(s, d);
      lat.add(performance.now() - t0);
      return [d.length, 1];
    });
  }

  /** W2 already publishes over one connection with concurrent async publishes: nats.js's own way. */
  w2Client(o: W2Options): Promise<Measurement> {
    return this.w2(o);
  }

  async w3(o: W3Options): Promise<Measurement> {
    const s = unique('w3');
    const stream = await this.stream([s]);
    let sent = 0;
    let count = 0;
    while (sent < o.bytes && !o.signal?.aborted) {
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
    const abort = () => msgs.stop();
    o.signal?.addEventListener('abort', abort);
    try {
      for await (const m of msgs) {
        JSON.parse(m.string());
        bytes += m.data.length;
        if (++got === count) msgs.stop();
      }
    } finally {
      o.signal?.removeEventListener('abort', abort);
    }
    if (got < count) throw new Error(`nats replay read ${got} of ${count}`);
    const secs = (performance.now() - t0) / 1000;
    return { mbps: bytes / 1e6 / secs, docsps: got / secs };
  }

  async w4(o: W4Options): Promise<Measurement> {
    const s = unique('w4');
    const stream = await this.stream([s]);
    const jsm = await this.nc.jetstreamManager();
    await jsm.consumers.add(stream, { durable_name: 'lat', ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.New });
    const consumer = await this.js.consumers.get(stream, 'lat');
    const delivery = new Delivery();
    const msgs = await consumer.consume();
    const reading = (async () => {
      for await (const m of msgs) delivery.lat.add(performance.now() - (JSON.parse(m.string()) as { t: number }).t);
    })().catch(delivery.fail);
    try {
      const inflight: Promise<unknown>[] = [];
      const sent = await paced(o.rate, o.seconds, o.signal, (batch) => {
        for (const doc of batch) inflight.push(this.js.publish(s, Buffer.from(doc)));
      });
      await Promise.all(inflight);
      return await delivery.measurement(o.rate, sent, o.signal);
    } finally {
      msgs.stop();
      await reading;
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled([this.nc.close(), this.server.stop()]);
    await this.dir.remove();
  }
}
