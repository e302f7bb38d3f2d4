import { Readable } from 'node:stream';
import { InletError } from '../errors.js';
import type { Codec } from '../journal/spec.js';
import { decompressor } from './codecs.js';
import type { Fragment } from './fragment-index.js';
import { openStore } from './stores/index.js';

/**
 * The bytes `[from, fragment.end)` of a persisted fragment, read through its store (the
 * broker's path; readers in other processes use a URL, see readers/fragment-source.ts).
 */
export async function readFragment(fragment: Fragment, from: number): Promise<Readable> {
  checkFrom(fragment, from);
  const store = openStore(fragment.store);
  return inflateRange(await store.open(fragment.key), fragment, from, store.location(fragment.key));
}

/**
 * Decompresses a fragment's raw stream and skips to `from`. The result fails if the fragment
 * holds more or fewer bytes than its name says: a fragment is never silently short.
 * Buffers hold at most ~1 MiB beyond what the consumer has taken (backpressure).
 */
export function inflateRange(raw: Readable, f: { begin: number; end: number; codec: Codec }, from: number, location: string): Readable {
  checkFrom(f, from);
  const inflated = raw.pipe(decompressor(f.codec));
  raw.on('error', (err) => inflated.destroy(err));
  const want = f.end - f.begin;
  return Readable.from(
    (async function* () {
      let seen = 0;
      let skip = from - f.begin;
      try {
        for await (const chunk of inflated as AsyncIterable<Buffer>) {
          seen += chunk.length;
          if (seen > want) throw new InletError('IO_ERROR', `fragment ${location} holds more than its ${want} bytes`);
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
      if (seen !== want) throw new InletError('IO_ERROR', `fragment ${location} holds ${seen} bytes, not the ${want} its name says`);
    })(),
    { objectMode: false, highWaterMark: 1 << 20 },
  );
}

function checkFrom(f: { begin: number; end: number }, from: number): void {
  if (from < f.begin || from > f.end) {
    throw new InletError('INVALID_OFFSET', `offset ${from} is outside fragment [${f.begin}, ${f.end})`);
  }
}
