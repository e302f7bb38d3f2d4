/**
 * History replay: a Reader reads ~1 GB of persisted history from offset 0, straight from the
 * store, next to plain decompression of the same fragment files, in one run.
 *
 *   npm run bench:replay [-- --mb 1000 --codecs gzip,zstd]
 *
 * For each codec: appends the history (1 MiB batches of ~200-byte shipment documents), stops the
 * broker cleanly so every spool is persisted, starts a broker on an empty data dir over the same
 * store, then measures (1) decompressing every fragment file and counting bytes, (2) the
 * JournalReader from offset 0 to the write head, (3) the same with NDJSON document parsing.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { decompressor } from '../src/fragments/codecs.js';
import { BrokerClient, JournalReader, readDocuments } from '../src/readers/mod.js';
import type { Codec } from '../src/journal/spec.js';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '1000' }, codecs: { type: 'string', default: 'gzip,zstd' } } });
const TOTAL = Number(values.mb) * 1e6;
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const JOURNAL = 'bench/replay/pivot=00';

function batch(seed: number): Buffer {
  const carriers = ['UPS', 'FedEx', 'DHL', 'USPS'];
  let out = '';
  for (let i = 0; out.length < 1 << 20; i++) {
    const n = seed * 10_000 + i;
    out += JSON.stringify({
      id: `shp_${n}`,
      vendor: { name: carriers[n % 4] },
      origin: { zip: String(10000 + ((n * 7919) % 89999)), country: 'US' },
      weightKg: ((n * 31) % 5000) / 100,
      status: n % 3 ? 'in_transit' : 'delivered',
      reference: `PO-${(n * 104729) % 1_000_000_007}`,
      service: n % 2 ? 'ground' : 'express',
      ts: new Date(1_700_000_000_000 + n * 1000).toISOString(),
    }) + '\n';
  }
  return Buffer.from(out);
}

async function broker(dataDir: string, store: string, codec: Codec): Promise<{ url: string; stop: (sig: NodeJS.Signals) => Promise<void> }> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--store', store, '--log-level', 'warn',
    '--fragment-length', '64MiB', '--compression', codec, '--shutdown-grace', '600s'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c;
      const m = out.match(/listening on (\S+)/);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`broker exited ${code}`)));
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return { url, stop: async (sig) => { proc.kill(sig); await exited; } };
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

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);
console.log(`history replay: ~${values.mb} MB of shipment NDJSON per codec, fragments of 64 MiB in a file store, one run\n`);
console.log('codec  history MB  fragments  decompress MB/s  reader MB/s  ratio  reader+parse MB/s  docs/s');
for (const codec of (values.codecs as string).split(',') as Codec[]) {
  const dir = await mkdtemp(join(tmpdir(), 'inlet-replay-'));
  const store = `file://${join(dir, 'lake')}/`;
  try {
    const b1 = await broker(join(dir, 'd1'), store, codec);
    await fetch(`${b1.url}/v1/stream/${JOURNAL}`, { method: 'PUT', headers: { 'content-type': 'application/x-ndjson' } });
    const pool = new Pool(b1.url, { connections: 4 });
    let sent = 0;
    let seq = 0;
    await Promise.all([0, 1, 2, 3].map(async () => {
      while (sent < TOTAL) {
        const body = batch(seq++);
        sent += body.length;
        const res = await pool.request({ method: 'POST', path: `/v1/stream/${JOURNAL}`, headers: { 'content-type': 'application/x-ndjson' }, body });
        await res.body.dump();
        if (res.statusCode !== 204) throw new Error(`append: ${res.statusCode}`);
      }
    }));
    await pool.close();
    await b1.stop('SIGTERM'); // persists every spool

    const fragmentFiles = await files(join(dir, 'lake', JOURNAL));
    let t0 = performance.now();
    let raw = 0;
    for (const f of fragmentFiles) {
      for await (const c of createReadStream(f, { highWaterMark: 1 << 20 }).pipe(decompressor(codec)) as AsyncIterable<Buffer>) raw += c.length;
    }
    const plainMs = performance.now() - t0;

    const b2 = await broker(join(dir, 'd2'), store, codec);
    const client = new BrokerClient(b2.url);
    t0 = performance.now();
    let read = 0;
    for await (const c of new JournalReader(client, JOURNAL)) read += c.data.length;
    const readerMs = performance.now() - t0;
    if (read !== raw) throw new Error(`reader read ${read} bytes, the fragments hold ${raw}`);

    t0 = performance.now();
    let docs = 0;
    let parsed = 0;
    for await (const d of readDocuments(new JournalReader(client, JOURNAL))) {
      docs++;
      parsed = d.end;
    }
    const parseMs = performance.now() - t0;
    await b2.stop('SIGKILL');
    const ratio = mbps(read, readerMs) / mbps(raw, plainMs);
    console.log(
      [codec.padEnd(5), (raw / 1e6).toFixed(0).padStart(10), String(fragmentFiles.length).padStart(10), mbps(raw, plainMs).toFixed(0).padStart(16),
        mbps(read, readerMs).toFixed(0).padStart(12), ratio.toFixed(2).padStart(6), mbps(parsed, parseMs).toFixed(0).padStart(18),
        Math.round(docs / (parseMs / 1000)).toString().padStart(7)].join('  '),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
