import { Pool } from 'undici';
import { paced, timed, type Measurement, type RunOptions } from './systems.js';

const NDJSON = { 'content-type': 'application/x-ndjson' };

/**
 * Appends over the Durable Streams HTTP protocol, as inlet and the reference server both speak
 * it: `PUT` creates a stream, `POST` appends NDJSON to `<base>/<name>`.
 */
export class StreamAppends {
  /** `base`: the URL path streams are under (`/v1/stream`). */
  constructor(
    private readonly url: string,
    private readonly base: string,
    private readonly system: string,
  ) {}

  async create(names: string[]): Promise<void> {
    for (const n of names) {
      const res = await fetch(`${this.url}${this.base}/${n}`, { method: 'PUT', headers: NDJSON });
      if (res.status >= 300) throw new Error(`${this.system} create ${n}: ${res.status}`);
    }
  }

  /**
   * `connections` closed loops for `seconds`: each appends the body `next` gives to one of
   * `names` and waits for its acknowledgement before the next.
   */
  async loop(names: string[], connections: number, o: RunOptions & { seconds: number }, next: (i: number) => { data: string | Buffer; docs: number }): Promise<Measurement> {
    const pool = new Pool(this.url, { connections });
    let i = 0;
    try {
      return await timed(connections, o.seconds, o.signal, async (l, lat) => {
        const b = next(i++);
        const t0 = performance.now();
        const res = await pool.request({ method: 'POST', path: `${this.base}/${names[(l + i) % names.length]}`, headers: NDJSON, body: b.data });
        await res.body.dump();
        if (res.statusCode >= 300) throw new Error(`${this.system} append: ${res.statusCode}`);
        lat.add(performance.now() - t0);
        return [Buffer.byteLength(b.data), b.docs];
      });
    } finally {
      await pool.close();
    }
  }

  /** W4's writer: documents created at `rate` per second, what came due each millisecond appended as one body; returns how many. */
  async paced(name: string, o: RunOptions & { rate: number; seconds: number }): Promise<number> {
    const pool = new Pool(this.url, { connections: 16 });
    try {
      const inflight: Promise<unknown>[] = [];
      const sent = await paced(o.rate, o.seconds, o.signal, (batch) => {
        const body = batch.join('\n') + '\n';
        inflight.push(
          pool.request({ method: 'POST', path: `${this.base}/${name}`, headers: NDJSON, body }).then(async (r) => {
            await r.body.dump();
            if (r.statusCode >= 300) throw new Error(`${this.system} append: ${r.statusCode}`);
          }),
        );
      });
      await Promise.all(inflight);
      return sent;
    } finally {
      await pool.close();
    }
  }
}
