import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { FragmentInfo } from '../protocol/fragments.js';
import { InletError } from '../errors.js';
import { inflateRange } from '../fragments/fragment-reader.js';

/**
 * Opens a fragment straight from its store by URL (a `file://` path or a presigned `https://`
 * URL), decompresses it as a stream and skips to `from`. The stream fails if the fragment turns
 * out longer or shorter than its name says. Nothing is read until the stream is consumed, beyond
 * what fills its buffers: that is the read-ahead, and its bound.
 */
export async function openFragment(f: FragmentInfo, from: number, signal?: AbortSignal): Promise<Readable> {
  if (!f.url) throw new InletError('BAD_REQUEST', `fragment [${f.begin}, ${f.end}) has no URL for direct reads`);
  let raw: Readable;
  if (f.url.startsWith('file:')) {
    raw = createReadStream(fileURLToPath(f.url), { highWaterMark: 1 << 20 });
    await new Promise<void>((resolve, reject) => {
      raw.once('open', () => resolve());
      raw.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new InletError('FRAGMENT_NOT_FOUND', `fragment ${f.location} is gone (pruned?)`, { cause: err }) : err),
      );
    });
  } else {
    const res = await request(f.url, { signal, headersTimeout: 30_000, bodyTimeout: 60_000 });
    if (res.statusCode !== 200) {
      await res.body.dump();
      const code = res.statusCode === 404 ? 'FRAGMENT_NOT_FOUND' : 'STORE_UNAVAILABLE';
      throw new InletError(code, `fragment ${f.location}: HTTP ${res.statusCode}${res.statusCode === 403 ? ' (presigned URL expired?)' : ''}`);
    }
    raw = res.body as unknown as Readable;
  }
  return inflateRange(raw, f, from, f.location);
}
