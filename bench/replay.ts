/**
 * History replay: a Reader reads ~1 GB of persisted history from offset 0, straight from the
 * store, next to plain decompression of the same fragment files, in one run.
 *
 *   npm run bench:replay [-- --mb 1000 --codecs gzip,zstd]
 *
 * The W3 workload of the comparative bench (bench/lib/replay.ts) on its own, for each codec:
 * appends the history, stops the broker cleanly so every spool is persisted, starts a broker on
 * an empty data dir over the same store, then measures (1) decompressing every fragment file,
 * (2) the JournalReader from offset 0 to the write head, (3) the same with NDJSON parsing.
 */
import { parseArgs } from 'node:util';
import type { Codec } from '../src/journal/spec.js';
import { replayHistory } from './lib/replay.js';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '1000' }, codecs: { type: 'string', default: 'gzip,zstd' } } });

console.log(`history replay: ~${values.mb} MB of shipment NDJSON per codec, fragments of 64 MiB in a file store, one run\n`);
console.log('codec  history MB  fragments  decompress MB/s  reader MB/s  ratio  reader+parse MB/s  docs/s');
for (const codec of values.codecs!.split(',') as Codec[]) {
  const r = await replayHistory({ bytes: Number(values.mb) * 1e6, codec });
  console.log(
    [codec.padEnd(5), (r.historyBytes / 1e6).toFixed(0).padStart(10), String(r.fragments).padStart(10), r.decompressMBps.toFixed(0).padStart(16),
      r.mbps.toFixed(0).padStart(12), (r.mbps / r.decompressMBps).toFixed(2).padStart(6), r.parseMBps.toFixed(0).padStart(18),
      Math.round(r.docsps).toString().padStart(7)].join('  '),
  );
}
