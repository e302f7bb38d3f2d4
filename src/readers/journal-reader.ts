import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BrokerClient } from '../client/broker-client.js';
import type { FragmentInfo } from '../protocol/fragments.js';
import { InletError } from '../errors.js';
import { backoff } from '../retry.js';
import { directAllowed, openFragment } from './fragment-source.js';
import { ReaderError, type Chunk, type ReaderOptions } from './types.js';

/** Client errors that a later attempt can get past: a fragment pruned or an URL expired mid-read. */
const RETRYABLE = new Set(['FRAGMENT_NOT_FOUND']);
/** After this many direct fragment reads fail in a row, read through the broker instead. */
const DIRECT_FAILURES_BEFORE_PROXY = 3;
/** Reads that find corrupt fragment content, in a row, before the reader fails with FRAGMENT_CORRUPT. */
const CORRUPT_ATTEMPTS = 4;

/**
 * Reads one journal from any offset as one ordered stream of chunks, each with its offset.
 *
 * History held by persisted fragments is read straight from the store (a local path or a
 * presigned URL the broker hands out, when it lies under one of the `stores` the reader was
 * given) while the next fragment is already being fetched and
 * decompressed; what only the broker holds is read from the broker; at the write head a
 * following reader long-polls for new appends. The switch between sources is invisible: the
 * consumer sees contiguous offsets, never a gap or a repeat.
 *
 * Failures (broker restarts, store errors, expired URLs, fragments pruned mid-read) are retried
 * from the current offset with backoff. History missing from every store fails with
 * OFFSET_GONE, or, with `allowJumps`, is skipped and reported through `onJump`.
 *
 * Every fragment is verified against the SHA-1 in its name before any of its bytes is yielded;
 * corrupt content (from the store or from the broker) is retried a few times, then fails with
 * FRAGMENT_CORRUPT: a reader never yields bytes that do not match.
 *
 * Memory is bounded: sources are pulled only as fast as the consumer pulls; a fragment read
 * directly is held in memory until verified (up to 64 MiB of it, VERIFY_IN_MEMORY_BYTES, for
 * the current fragment and the next one read ahead; longer ranges verify in a first pass).
 */
export class JournalReader implements AsyncIterable<Chunk> {
  /** The next offset to be delivered; after a break, resume here. */
  offset: number;
  private now: boolean;

  constructor(
    private readonly client: BrokerClient,
    readonly journal: string,
    private readonly opts: ReaderOptions = {},
  ) {
    const start = opts.offset ?? 0;
    this.now = start === 'now';
    this.offset = start === 'now' || start < 0 ? 0 : start;
  }

  /** The bytes as a Node Readable (no offsets), with backpressure. */
  toReadable(): Readable {
    const self = this;
    return Readable.from(
      (async function* () {
        for await (const c of self) yield c.data;
      })(),
      { objectMode: false },
    );
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Chunk> {
    const { signal, follow = false } = this.opts;
    const stores = this.opts.stores ?? [];
    let direct = this.opts.direct !== 'never' && stores.length > 0;
    let corrupt = 0;
    let fragments: FragmentInfo[] | undefined;
    let listedAt = 0;
    let ahead: { f: FragmentInfo; stream: Promise<Readable> } | undefined;
    let caughtUp = false;
    let attempt = 0;
    let directFailures = 0;
    const dropAhead = () => {
      ahead?.stream.then((s) => s.destroy(), () => undefined);
      ahead = undefined;
    };
    try {
      while (!signal?.aborted) {
        let fromStore = false;
        try {
          if (this.now) {
            this.offset = (await this.client.head(this.journal)).writeHead;
            this.now = false;
          }
          if (direct && !caughtUp) {
            if (!fragments || (!covering(fragments, this.offset) && Date.now() - listedAt > 1000)) {
              const listed = (await this.client.listFragments({ journal: this.journal }, true))[0]?.fragments ?? [];
              fragments = listed.filter((f) => directAllowed(f.url, stores));
              listedAt = Date.now();
            }
            const f = covering(fragments, this.offset);
            if (f) {
              fromStore = true;
              const stream = ahead?.f === f && this.offset === f.begin ? await ahead.stream : await openFragment(f, this.offset, signal);
              ahead = undefined;
              // Read-ahead: the next fragment downloads and decompresses while this one is consumed.
              const next = covering(fragments, f.end);
              if (next) {
                const p = openFragment(next, next.begin, signal);
                p.catch(() => undefined);
                ahead = { f: next, stream: p };
              }
              for await (const data of stream as AsyncIterable<Buffer>) {
                yield { journal: this.journal, offset: this.offset, data, source: 'store' };
                this.offset += data.length;
              }
              attempt = 0;
              directFailures = 0;
              corrupt = 0;
              continue;
            }
          }
          const res = await this.client.readFrom(this.journal, this.offset, caughtUp && follow, signal);
          for await (const data of res.body) {
            yield { journal: this.journal, offset: this.offset, data, source: 'broker' };
            this.offset += data.length;
          }
          if (this.offset !== res.next) {
            throw new InletError('IO_ERROR', `read of ${this.journal} ended at ${this.offset}, the broker promised ${res.next}`);
          }
          caughtUp = res.upToDate;
          attempt = 0;
          corrupt = 0;
          if (caughtUp && (res.closed || !follow)) return;
        } catch (err) {
          if (signal?.aborted) return;
          dropAhead();
          // Programming errors and refusals a retry cannot change end the read.
          if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) throw err;
          const e = err as InletError;
          if (e.code === 'FRAGMENT_CORRUPT' && ++corrupt >= CORRUPT_ATTEMPTS) {
            throw new ReaderError('FRAGMENT_CORRUPT', `${e.message} (${corrupt} attempts)`, { cause: err });
          }
          if (e instanceof InletError && e.status >= 400 && e.status < 500 && !RETRYABLE.has(e.code)) {
            if (e.code !== 'OFFSET_GONE') throw new ReaderError(e.code, e.message, { cause: err });
          }
          if (e.code === 'OFFSET_GONE' && !fromStore) {
            const to = typeof e.details?.nextOffset === 'number' ? e.details.nextOffset : undefined;
            if (!this.opts.allowJumps || to === undefined || to <= this.offset) {
              throw new ReaderError('OFFSET_GONE', `${e.message}; pass allowJumps to skip ahead`, { cause: err, details: { offset: this.offset, nextOffset: to } });
            }
            this.opts.onJump?.({ journal: this.journal, from: this.offset, to });
            this.offset = to;
            fragments = undefined;
            continue;
          }
          if (fromStore) {
            // A pruned fragment or an expired URL: list again; the broker decides what is gone.
            fragments = undefined;
            if (++directFailures >= DIRECT_FAILURES_BEFORE_PROXY) direct = false;
          }
          attempt++;
          const delay = backoff(attempt);
          this.opts.onRetry?.(e instanceof Error ? e : new Error(String(err)), attempt, delay);
          await sleep(delay, undefined, { signal }).catch(() => undefined);
        }
      }
    } finally {
      dropAhead();
    }
  }
}

/** The fragment holding `offset` that reaches furthest. */
function covering(fragments: FragmentInfo[], offset: number): FragmentInfo | undefined {
  let best: FragmentInfo | undefined;
  for (const f of fragments) if (f.begin <= offset && offset < f.end && (!best || f.end > best.end)) best = f;
  return best;
}
