import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { InletError } from '../errors.js';
import type { Codec } from '../journal/spec.js';
import { decompressor } from './codecs.js';
import type { Fragment } from './fragment-index.js';
import type { FragmentStore } from './stores/types.js';

/** What a fragment's name promises about its content. */
export interface FragmentRef {
  readonly begin: number;
  readonly end: number;
  readonly codec: Codec;
  /** SHA-1 of the uncompressed content, 40 lowercase hex digits. */
  readonly sha1: string;
}

/**
 * A range up to this long is inflated once and held until verified; a longer one is inflated
 * twice (verify, then stream), trading CPU for memory.
 */
export const VERIFY_IN_MEMORY_BYTES = 64 * 1024 * 1024;

/**
 * The bytes `[from, fragment.end)` of a persisted fragment, read through its store and verified
 * (see readVerified). This is the broker's path; readers in other processes open a URL, see
 * readers/fragment-source.ts.
 */
export async function readFragment(store: FragmentStore, fragment: Fragment, from: number): Promise<Readable> {
  return readVerified(() => store.open(fragment.key), fragment, from, store.location(fragment.key));
}

/**
 * The bytes `[from, f.end)` of a fragment, decompressed and checked against its name before any
 * of them is handed out: content that does not hash to the name's SHA-1, holds more or fewer
 * bytes than `[begin, end)`, or does not decompress fails with FRAGMENT_CORRUPT naming
 * `location`, and yields nothing. Errors of the raw stream (network, disk) pass through as they are.
 *
 * Ranges up to VERIFY_IN_MEMORY_BYTES are inflated once and held in memory until verified;
 * longer ones are inflated (and hashed) once to verify, then opened again and streamed, hashed
 * once more so that an object replaced between the passes still fails at its end.
 */
export async function readVerified(open: () => Promise<Readable>, f: FragmentRef, from: number, location: string): Promise<Readable> {
  if (from < f.begin || from > f.end) {
    throw new InletError('INVALID_OFFSET', `offset ${from} is outside fragment [${f.begin}, ${f.end})`);
  }
  if (f.end - from <= VERIFY_IN_MEMORY_BYTES) {
    const held: Buffer[] = [];
    for await (const chunk of inflate(await open(), f, from, location)) held.push(chunk);
    return Readable.from(held, { objectMode: false });
  }
  for await (const _ of inflate(await open(), f, f.end, location));
  return Readable.from(inflate(await open(), f, from, location), { objectMode: false, highWaterMark: 1 << 20 });
}

/**
 * Decompresses a fragment's raw stream, hashing all of it, and yields what lies at or after
 * `from`; throws FRAGMENT_CORRUPT after the last chunk if the content is not what the name says.
 * Buffers hold at most ~1 MiB beyond what the consumer has taken (backpressure).
 */
async function* inflate(raw: Readable, f: FragmentRef, from: number, location: string): AsyncGenerator<Buffer> {
  const corrupt = (why: string, cause?: unknown) =>
    new InletError('FRAGMENT_CORRUPT', `fragment ${location} is corrupt: ${why}`, cause === undefined ? undefined : { cause });
  const inflated = raw.pipe(decompressor(f.codec));
  let rawError: Error | undefined;
  raw.on('error', (err) => inflated.destroy((rawError = err)));
  const hash = createHash('sha1');
  const want = f.end - f.begin;
  let seen = 0;
  let skip = from - f.begin;
  try {
    try {
      for await (const chunk of inflated as AsyncIterable<Buffer>) {
        seen += chunk.length;
        if (seen > want) throw corrupt(`it holds more than the ${want} bytes its name says`);
        hash.update(chunk);
        if (skip >= chunk.length) {
          skip -= chunk.length;
          continue;
        }
        yield skip > 0 ? chunk.subarray(skip) : chunk;
        skip = 0;
      }
    } catch (err) {
      if (rawError !== undefined || (err as InletError).code === 'FRAGMENT_CORRUPT') throw rawError ?? err;
      throw corrupt(`it does not decompress as ${f.codec} (${(err as Error).message})`, err);
    }
  } finally {
    raw.destroy();
    inflated.destroy();
  }
  if (seen !== want) throw corrupt(`it holds ${seen} bytes, not the ${want} its name says`);
  const sha1 = hash.digest('hex');
  if (sha1 !== f.sha1) throw corrupt(`its content hashes to ${sha1}, not the SHA-1 its name says`);
}
