import { Readable } from 'node:stream';
import { InletError } from '../errors.js';
import { decompressor } from './codecs.js';
import type { Fragment } from './fragment-index.js';
import { openStore } from './stores/index.js';

/**
 * The bytes `[from, fragment.end)` of a persisted fragment: fetched from its store,
 * decompressed as a stream, skipped to `from`. A fragment that decompresses to more or fewer
 * bytes than its name says is an error, never silently short.
 */
export async function readFragment(fragment: Fragment, from: number): Promise<Readable> {
  if (from < fragment.begin || from > fragment.end) {
    throw new InletError('INVALID_OFFSET', `offset ${from} is outside fragment [${fragment.begin}, ${fragment.end})`);
  }
  const raw = await openStore(fragment.store).open(fragment.key);
  const inflated = raw.pipe(decompressor(fragment.codec));
  raw.on('error', (err) => inflated.destroy(err));
  const want = fragment.end - fragment.begin;
  const location = openStore(fragment.store).location(fragment.key);
  return Readable.from(
    (async function* () {
      let at = 0; // bytes of the fragment seen so far
      let skip = from - fragment.begin;
      try {
        for await (const chunk of inflated as AsyncIterable<Buffer>) {
          at += chunk.length;
          if (at > want) throw new InletError('IO_ERROR', `fragment ${location} holds more than its ${want} bytes`);
          if (skip >= chunk.length) {
            skip -= chunk.length;
            continue;
          }
          yield skip > 0 ? chunk.subarray(skip) : chunk;
          skip = 0;
        }
      } finally {
        raw.destroy();
        inflated.destroy();
      }
      if (at !== want) throw new InletError('IO_ERROR', `fragment ${location} holds ${at} bytes, not the ${want} its name says`);
    })(),
    { objectMode: false, highWaterMark: 1 << 20 },
  );
}
