/**
 * Acknowledged append throughput of one broker process, for batch sizes from 1 KiB to 1 MiB.
 *
 *   npm run bench:append [-- --seconds 4 --appenders 8 --journals 1]
 *
 * The W1 load of the comparative bench (bench/lib/inlet.ts) swept over batch sizes: each
 * appender sends a batch of ~200-byte shipment documents over keep-alive HTTP and waits for the
 * acknowledgement (= fsync'd) before sending the next. Printed: MB/s and docs/s of acknowledged
 * bytes, ack latency p50/p99, the broker's peak RSS, and for scale the rate of fsync'd
 * sequential writes of the same batch size on the same disk; then the persister's compression
 * and upload rates, from the broker's metrics.
 */
import { parseArgs } from 'node:util';
import { InletSystem } from './lib/inlet.js';
import { fsyncDisk } from './lib/limits.js';
import { scratchDir } from './lib/processes.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    appenders: { type: 'string', default: '8' },
    journals: { type: 'string', default: '1' },
  },
});
const load = { seconds: Number(values.seconds), appenders: Number(values.appenders), journals: Number(values.journals) };
const BATCHES = [1024, 16 * 1024, 256 * 1024, 1024 * 1024];

const inlet = await InletSystem.start();
const scratch = await scratchDir('inlet-bench-fsync-');
console.log(`inlet append bench: ${load.appenders} appenders, ${load.journals} journal(s), ${load.seconds}s per batch size, acknowledged = fsync'd`);
console.log('batch     MB/s    docs/s   p50 ms  p99 ms  fsync-disk MB/s  ratio  broker peak RSS MiB');
try {
  for (const batchBytes of BATCHES) {
    await inlet.appendBatches({ ...load, seconds: 0.5, batchBytes }); // warm-up
    const m = await inlet.appendBatches({ ...load, batchBytes });
    const disk = await fsyncDisk(scratch.path, 1000, batchBytes);
    console.log(
      [
        `${batchBytes >= 1 << 20 ? `${batchBytes >> 20}MiB` : `${batchBytes >> 10}KiB`}`.padEnd(8),
        m.mbps.toFixed(1).padStart(6),
        Math.round(m.docsps).toString().padStart(9),
        m.p50!.toFixed(2).padStart(8),
        m.p99!.toFixed(2).padStart(7),
        disk.toFixed(1).padStart(16),
        (m.mbps / disk).toFixed(2).padStart(6),
        inlet.server.peakRssMiB().toFixed(0).padStart(20),
      ].join('  '),
    );
  }
  // Persisting ran beside the appends: report its compression and upload rates from the broker's metrics.
  await new Promise((r) => setTimeout(r, 2000));
  const metrics = await (await fetch(`${inlet.server.url}/metrics`)).text();
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
  await inlet.stop();
  await scratch.remove();
}
