/**
 * Acknowledged append throughput of one broker process, for batch sizes from 1 KiB to 1 MiB.
 *
 *   npm run bench:append [-- --seconds 5 --appenders 8 --journals 1]
 *
 * Each appender sends batches of ~200-byte shipment documents over keep-alive HTTP and waits
 * for the acknowledgement (= fsync'd) before sending the next. Printed: MB/s and docs/s of
 * acknowledged bytes, ack latency p50/p99, the broker's peak RSS, and for scale the rate of
 * fsync'd sequential writes of the same batch size on the same disk.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    appenders: { type: 'string', default: '8' },
    journals: { type: 'string', default: '1' },
  },
});
const SECONDS = Number(values.seconds);
const APPENDERS = Number(values.appenders);
const JOURNALS = Number(values.journals);
const BATCHES = [1024, 16 * 1024, 256 * 1024, 1024 * 1024];
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Deterministic ~200-byte shipment documents (fixed seed). */
function documents(bytes: number): { body: Buffer; docs: number } {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const carriers = ['UPS', 'FedEx', 'DHL', 'USPS'];
  const lines: string[] = [];
  let size = 0;
  while (size < bytes) {
    const line =
      JSON.stringify({
        id: `shp_${Math.floor(rnd() * 1e12).toString(36)}`,
        vendor: { name: carriers[Math.floor(rnd() * 4)] },
        origin: { zip: String(10000 + Math.floor(rnd() * 89999)), country: 'US' },
        weightKg: Math.round(rnd() * 5000) / 100,
        status: 'in_transit',
        reference: `PO-${Math.floor(rnd() * 1e9)}`,
        service: rnd() < 0.5 ? 'ground' : 'express',
        ts: new Date(1_700_000_000_000 + Math.floor(rnd() * 1e9)).toISOString(),
      }) + '\n';
    if (size + line.length > bytes && lines.length > 0) break;
    lines.push(line);
    size += line.length;
  }
  return { body: Buffer.from(lines.join('')), docs: lines.length };
}

async function startBroker(dataDir: string): Promise<{ url: string; pid: number; stop: () => void }> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', '--fragment-length', '64MiB'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c;
      const m = out.match(/listening on (\S+)/);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`broker exited ${code}`)));
  });
  return { url, pid: proc.pid!, stop: () => proc.kill('SIGKILL') };
}

async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/VmHWM:\s+(\d+)/)![1]) / 1024;
}

async function fsyncRate(dir: string, batch: number): Promise<number> {
  const fh = await open(join(dir, 'fsync-probe'), 'w');
  const buf = Buffer.alloc(batch, 1);
  const started = performance.now();
  let bytes = 0;
  while (performance.now() - started < 1000) {
    await fh.write(buf, 0, batch, bytes);
    await fh.datasync();
    bytes += batch;
  }
  const secs = (performance.now() - started) / 1000;
  await fh.close();
  return bytes / secs / 1e6;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

const dataDir = await mkdtemp(join(tmpdir(), 'inlet-bench-'));
const broker = await startBroker(dataDir);
const pool = new Pool(broker.url, { connections: APPENDERS, pipelining: 1 });
console.log(`inlet append bench: ${APPENDERS} appenders, ${JOURNALS} journal(s), ${SECONDS}s per batch size, acknowledged = fsync'd`);
console.log('batch     MB/s    docs/s   p50 ms  p99 ms  fsync-disk MB/s  ratio  broker peak RSS MiB');
try {
  for (const size of BATCHES) {
    const { body, docs } = documents(size);
    const names = Array.from({ length: JOURNALS }, (_, i) => `bench/b${size}/j${i}`);
    for (const n of names) {
      await pool.request({ method: 'PUT', path: `/v1/stream/${n}`, headers: { 'content-type': 'application/x-ndjson' } }).then((r) => r.body.dump());
    }
    const latencies: number[] = [];
    let acked = 0;
    const run = async (deadline: number, w: number, record: boolean) => {
      for (let i = 0; performance.now() < deadline; i++) {
        const t0 = performance.now();
        const res = await pool.request({ method: 'POST', path: `/v1/stream/${names[(w + i) % names.length]}`, headers: { 'content-type': 'application/x-ndjson' }, body });
        await res.body.dump();
        if (res.statusCode !== 204) throw new Error(`append failed: ${res.statusCode}`);
        if (record) {
          latencies.push(performance.now() - t0);
          acked++;
        }
      }
    };
    await Promise.all(Array.from({ length: APPENDERS }, (_, w) => run(performance.now() + 500, w, false))); // warm-up
    const started = performance.now();
    await Promise.all(Array.from({ length: APPENDERS }, (_, w) => run(started + SECONDS * 1000, w, true)));
    const secs = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const mbps = (acked * body.length) / secs / 1e6;
    const disk = await fsyncRate(dataDir, size);
    console.log(
      [
        `${size >= 1 << 20 ? `${size >> 20}MiB` : `${size >> 10}KiB`}`.padEnd(8),
        mbps.toFixed(1).padStart(6),
        Math.round((acked * docs) / secs).toString().padStart(9),
        quantile(latencies, 0.5).toFixed(2).padStart(8),
        quantile(latencies, 0.99).toFixed(2).padStart(7),
        disk.toFixed(1).padStart(16),
        (mbps / disk).toFixed(2).padStart(6),
        (await peakRssMiB(broker.pid)).toFixed(0).padStart(20),
      ].join('  '),
    );
  }
  // Persisting ran beside the appends: report its compression and upload rates from the broker's metrics.
  await new Promise((r) => setTimeout(r, 2000));
  const metrics = await (await pool.request({ method: 'GET', path: '/metrics' })).body.text();
  const metric = (re: RegExp) => Number(metrics.match(re)?.[1] ?? NaN);
  const raw = metric(/inlet_fragment_bytes_total\{form="uncompressed"\} (\S+)/);
  const packed = metric(/inlet_fragment_bytes_total\{form="compressed"\} (\S+)/);
  const compressS = metric(/inlet_fragment_compress_seconds_sum (\S+)/);
  const uploadS = metric(/inlet_fragment_upload_seconds_sum (\S+)/);
  console.log(
    `\npersisted ${(raw / 1e6).toFixed(0)} MB as ${metric(/^inlet_fragments_persisted_total (\S+)$/m)} gzip fragments (ratio ${(raw / packed).toFixed(1)}): ` +
      `compress+hash ${(raw / 1e6 / compressS).toFixed(0)} MB/s on the worker thread, upload to the file store ${(packed / 1e6 / uploadS).toFixed(0)} MB/s compressed`,
  );
} finally {
  await pool.close();
  broker.stop();
  await rm(dataDir, { recursive: true, force: true });
}
