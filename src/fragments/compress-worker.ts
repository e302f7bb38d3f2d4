// Compresses and hashes spools off the main thread, so persisting never delays acknowledgements.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { parentPort } from 'node:worker_threads';
import type { Codec } from '../journal/spec.js';
import { compressor } from './codecs.js';

export interface CompressJob {
  id: number;
  spool: string;
  length: number;
  codec: Codec;
  out: string;
}

export interface CompressResult {
  id: number;
  sha1?: string;
  compressedSize?: number;
  error?: string;
}

parentPort!.on('message', (job: CompressJob) => {
  run(job).then(
    (r) => parentPort!.postMessage(r),
    (err: unknown) => parentPort!.postMessage({ id: job.id, error: (err as Error).message } satisfies CompressResult),
  );
});

async function run(job: CompressJob): Promise<CompressResult> {
  const hash = createHash('sha1');
  const source = job.length > 0 ? createReadStream(job.spool, { start: 0, end: job.length - 1, highWaterMark: 1 << 20 }) : createReadStream('/dev/null');
  const out = createWriteStream(job.out);
  let compressedSize = 0;
  await pipeline(
    source,
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const c of chunks) {
        hash.update(c);
        yield c;
      }
    },
    compressor(job.codec),
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const c of chunks) {
        compressedSize += c.length;
        yield c;
      }
    },
    out,
  );
  return { id: job.id, sha1: hash.digest('hex'), compressedSize };
}
