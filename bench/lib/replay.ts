import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Pool } from 'undici';
import { decompressor } from '../../src/fragments/codecs.js';
import { BrokerClient, JournalReader, readDocuments } from '../../src/readers/mod.js';
import { scratchDir, startInlet } from './processes.js';
import { shipmentBatch } from './shipments.js';
import type { Measurement, W3Options } from './systems.js';

/** A history replay: the Reader's MB/s (`mbps`) next to plain decompression of the same fragments. */
export interface Replay extends Measurement {
  decompressMBps: number;
  historyBytes: number;
  fragments: number;
  /** The Reader with every document parsed (the pass `docsps` comes from). */
  parseMBps: number;
}

const JOURNAL = 'bench/replay/pivot=00';

/**
 * Appends ~`bytes` of shipment NDJSON in 1 MiB batches, stops the broker cleanly so every spool
 * is persisted as a `codec` fragment, then on a fresh broker over the same store (empty data
 * dir) measures: (1) plain decompression of every fragment file, (2) the JournalReader from
 * offset 0 to the write head, (3) the same with every document parsed.
 */
export async function replayHistory(o: W3Options): Promise<Replay> {
  const codec = o.codec ?? 'gzip';
  const dir = await scratchDir('inlet-replay-');
  const store = `file://${join(dir.path, 'lake')}/`;
  try {
    const b1 = await startInlet(join(dir.path, 'd1'), ['--store', store, '--fragment-length', '64MiB', '--compression', codec, '--shutdown-grace', '600s']);
    try {
      await fetch(`${b1.url}/v1/stream/${JOURNAL}`, { method: 'PUT', headers: { 'content-type': 'application/x-ndjson' } });
      const pool = new Pool(b1.url, { connections: 4 });
      let sent = 0;
      let seed = 0;
      await Promise.all([0, 1, 2, 3].map(async () => {
        while (sent < o.bytes && !o.signal?.aborted) {
          const { body } = shipmentBatch(seed++, 1 << 20);
          sent += body.length;
          const res = await pool.request({ method: 'POST', path: `/v1/stream/${JOURNAL}`, headers: { 'content-type': 'application/x-ndjson' }, body });
          await res.body.dump();
          if (res.statusCode !== 204) throw new Error(`inlet append: ${res.statusCode}`);
        }
      })).finally(() => pool.close());
    } finally {
      await b1.stop('SIGTERM', 600_000); // persists every spool
    }

    const fragments = await files(join(dir.path, 'lake', JOURNAL));
    let plain = 0;
    let t0 = performance.now();
    for (const f of fragments) {
      for await (const c of createReadStream(f, { highWaterMark: 1 << 20 }).pipe(decompressor(codec)) as AsyncIterable<Buffer>) plain += c.length;
    }
    const decompressMBps = plain / 1e6 / ((performance.now() - t0) / 1000);

    const b2 = await startInlet(join(dir.path, 'd2'), ['--store', store]);
    try {
      const client = new BrokerClient(b2.url);
      const signal = o.signal;
      t0 = performance.now();
      let read = 0;
      for await (const c of new JournalReader(client, JOURNAL, { signal, stores: [store] })) read += c.data.length;
      const readSecs = (performance.now() - t0) / 1000;
      if (read !== plain) throw new Error(`the reader read ${read} bytes, the fragments hold ${plain}`);
      t0 = performance.now();
      let docs = 0;
      for await (const _ of readDocuments(new JournalReader(client, JOURNAL, { signal, stores: [store] }))) docs++;
      const parseSecs = (performance.now() - t0) / 1000;
      return { mbps: read / 1e6 / readSecs, docsps: docs / parseSecs, decompressMBps, historyBytes: plain, fragments: fragments.length, parseMBps: read / 1e6 / parseSecs };
    } finally {
      await b2.stop('SIGKILL');
    }
  } finally {
    await dir.remove();
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
