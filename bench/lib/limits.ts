import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { shipmentLines } from './shipments.js';

const require = createRequire(import.meta.url);
const zstd = require('zstd-napi') as { compress(b: Buffer, p?: { compressionLevel?: number }): Buffer; decompress(b: Buffer): Buffer };

export interface Limits {
  loopbackTcpMBps: number;
  fsyncDiskMBps: number;
  gzipCompressMBps: number;
  gzipDecompressMBps: number;
  zstdCompressMBps: number;
  zstdDecompressMBps: number;
  jsonParseMBps: number;
  jsonParseDocsPerSec: number;
}

/** MB/s of `fn` over `bytes`, the best of three (limits are ceilings). */
function best(bytes: number, fn: () => void): number {
  let top = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    fn();
    top = Math.max(top, bytes / 1e6 / ((performance.now() - t0) / 1000));
  }
  return top;
}

async function loopbackTcp(ms: number): Promise<number> {
  const buf = Buffer.alloc(1 << 20, 7);
  let received = 0;
  const server = createServer((sock) => sock.on('data', (c) => (received += c.length)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const client = connect(port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', () => r()));
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    if (!client.write(buf)) await new Promise((r) => client.once('drain', r));
  }
  const secs = (performance.now() - t0) / 1000;
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return received / 1e6 / secs;
}

/** MB/s of writing `blockBytes` blocks sequentially to a file in `dir`, each fdatasync'd, for `ms`. */
export async function fsyncDisk(dir: string, ms: number, blockBytes = 1 << 20): Promise<number> {
  const path = join(dir, 'limits-fsync');
  const fh = await open(path, 'w');
  const buf = Buffer.alloc(blockBytes, 1);
  let bytes = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    await fh.write(buf, 0, buf.length, bytes);
    await fh.datasync();
    bytes += buf.length;
  }
  const secs = (performance.now() - t0) / 1000;
  await fh.close();
  await rm(path, { force: true });
  return bytes / 1e6 / secs;
}

/** The machine's limits for the same data, measured in the same run as the workloads. */
export async function measureLimits(dir: string, quick: boolean): Promise<Limits> {
  const lines = shipmentLines(0, quick ? 100_000 : 300_000);
  const data = Buffer.from(lines.join(''));
  const gz = gzipSync(data, { level: 1 });
  const zs = zstd.compress(data, { compressionLevel: 1 });
  const t0 = performance.now();
  for (const l of lines) JSON.parse(l);
  const parseSecs = (performance.now() - t0) / 1000;
  return {
    loopbackTcpMBps: await loopbackTcp(quick ? 500 : 1500),
    fsyncDiskMBps: await fsyncDisk(dir, quick ? 500 : 1500),
    gzipCompressMBps: best(data.length, () => gzipSync(data, { level: 1 })),
    gzipDecompressMBps: best(data.length, () => gunzipSync(gz)),
    zstdCompressMBps: best(data.length, () => zstd.compress(data, { compressionLevel: 1 })),
    zstdDecompressMBps: best(data.length, () => zstd.decompress(zs)),
    jsonParseMBps: data.length / 1e6 / parseSecs,
    jsonParseDocsPerSec: lines.length / parseSecs,
  };
}
