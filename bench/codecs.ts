/**
 * Why zstd-napi: compression and decompression throughput of the codecs a fragment can use,
 * on the same generated shipment NDJSON, in one run.
 *
 *   npm run bench:codecs [-- --mb 64]
 *
 * Compared: Node's gzip (level 1, what inlet uses), native zstd via zstd-napi (level 1, what
 * inlet uses), and the WASM zstd-codec, which is measured on 4 MB pieces because it fails on
 * larger inputs (its failure on the whole input is reported too).
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { shipmentBatch } from './lib/shipments.js';
import { median } from './lib/stats.js';

const require = createRequire(import.meta.url);
const { values } = parseArgs({ options: { mb: { type: 'string', default: '64' } } });
const SIZE = Number(values.mb) * 1e6;

/** Median MB/s of `reps` runs of fn over `bytes` input bytes. */
function rate(bytes: number, fn: () => unknown, reps = 3): number {
  const rates: number[] = [];
  fn(); // warm-up
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    rates.push(bytes / 1e6 / ((performance.now() - t0) / 1000));
  }
  return median(rates);
}

const data = shipmentBatch(0, SIZE).body;
const rows: [string, string, string, string][] = [];
const mb = (x: number) => x.toFixed(0);

const gz = gzipSync(data, { level: 1 });
rows.push(['gzip level 1 (node:zlib)', mb(rate(data.length, () => gzipSync(data, { level: 1 }))), mb(rate(data.length, () => gunzipSync(gz))), (data.length / gz.length).toFixed(1)]);

const zstd = require('zstd-napi') as { compress(b: Buffer, p?: { compressionLevel?: number }): Buffer; decompress(b: Buffer): Buffer };
const zs = zstd.compress(data, { compressionLevel: 1 });
rows.push(['zstd level 1 (zstd-napi, native)', mb(rate(data.length, () => zstd.compress(data, { compressionLevel: 1 }))), mb(rate(data.length, () => zstd.decompress(zs))), (data.length / zs.length).toFixed(1)]);

const { ZstdCodec } = require('zstd-codec') as { ZstdCodec: { run(cb: (z: { Simple: new () => { compress(b: Uint8Array, level: number): Uint8Array; decompress(b: Uint8Array): Uint8Array } }) => void): void } };
await new Promise<void>((resolve) => {
  ZstdCodec.run((z) => {
    const simple = new z.Simple();
    const piece = data.subarray(0, 4e6);
    const c = simple.compress(piece, 1);
    rows.push(['zstd level 1 (zstd-codec, WASM, 4 MB pieces)', mb(rate(piece.length, () => simple.compress(piece, 1))), mb(rate(piece.length, () => simple.decompress(c))), (piece.length / c.length).toFixed(1)]);
    try {
      const whole = simple.compress(data, 1);
      if (!whole) throw new Error('returned nothing');
      rows.push([`zstd-codec on the whole ${values.mb} MB`, 'ok', '', '']);
    } catch (err) {
      rows.push([`zstd-codec on the whole ${values.mb} MB`, `fails: ${String((err as Error)?.message ?? err).slice(0, 40)}`, '', '']);
    }
    resolve();
  });
});

console.log(`codec throughput on ${(data.length / 1e6).toFixed(0)} MB of shipment NDJSON (median of 3, one core)\n`);
console.log('codec'.padEnd(46) + 'compress MB/s'.padStart(14) + 'decompress MB/s'.padStart(17) + 'ratio'.padStart(7));
for (const [name, c, d, r] of rows) console.log(name.padEnd(46) + c.padStart(14) + d.padStart(17) + r.padStart(7));
