// Compresses and hashes spools on the worker pool's threads, so persisting never delays acknowledgements.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Codec } from '../journal/spec.js';
import { spoolPayload } from '../journal/spool-format.js';
import { compressor } from './codecs.js';

export interface CompressJob {
  spool: string;
  length: number;
  codec: Codec;
  out: string;
}

export interface CompressResult {
  /** SHA-1 of the uncompressed bytes, 40 hex digits. */
  sha1: string;
  compressedSize: number;
  /** MD5 of the compressed bytes, base64: what the store must confirm it holds. */
  compressedMd5: string;
}

/** Writes the first `length` journal bytes of `spool` (a format-2 spool file), compressed with `codec`, to `out`. */
export default async function compress(job: CompressJob): Promise<CompressResult> {
  const hash = createHash('sha1');
  const md5 = createHash('md5');
  const source = Readable.from(spoolPayload(job.spool, job.length), { objectMode: false });
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
        md5.update(c);
        yield c;
      }
    },
    out,
  );
  return { sha1: hash.digest('hex'), compressedSize, compressedMd5: md5.digest('base64') };
}
