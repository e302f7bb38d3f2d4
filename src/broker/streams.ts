import { InletError } from '../errors.js';
import type { AppendResult, Journal } from '../journal/journal.js';
import type { JournalRegistry } from '../journal/registry.js';
import { mediaType, type JournalSpec } from '../journal/spec.js';
import type { LoggedLine } from '../journal/producer-log.js';
import type { ProducerState, StreamState } from '../journal/stream-state.js';
import { encodeAppend } from './content.js';
import type { Lake } from './lake.js';
import { checkSameConfig, planFork } from './stream-forks.js';
import { StreamLifetime } from './stream-lifetime.js';
import { checkProducer, pruneProducers, type Producer } from './stream-producers.js';
import { StreamReads } from './stream-reads.js';

export type { Producer } from './stream-producers.js';

export interface CreateOptions {
  /** Absent: `application/octet-stream`, or the source's type for a fork. */
  contentType?: string;
  ttlSeconds?: number;
  expiresAt?: string;
  closed?: boolean;
  initial?: Buffer;
  forkedFrom?: string;
  forkOffset?: number;
  forkSubOffset?: number;
}

export interface AppendOptions {
  contentType?: string;
  /** `Stream-Seq`: must sort after the last one accepted. */
  seq?: string;
  producer?: Producer;
  close?: boolean;
  /** Fails with WRONG_APPEND_OFFSET unless the append would begin here. */
  expectOffset?: number;
}

export type AppendOutcome =
  | { kind: 'appended'; result: AppendResult; closed: boolean }
  /** `of`: where the duplicated append landed, when it is the producer's last (as a retry is). */
  | { kind: 'duplicate'; lastSeq: number; closed: boolean; head: number; of?: { begin: number; end: number } };

/**
 * The Durable Streams protocol's semantics over journals: creation with lifetime and fork
 * options (stream-forks.ts), appends with writer sequencing, idempotent producers
 * (stream-producers.ts) and closure; reads that follow fork ancestry (stream-reads.ts); and
 * deletion that keeps sources alive while forks read them (stream-lifetime.ts).
 */
export class StreamService {
  readonly lifetime: StreamLifetime;
  readonly reads: StreamReads;

  constructor(
    readonly registry: JournalRegistry,
    lake: Lake,
  ) {
    this.lifetime = new StreamLifetime(registry, lake);
    this.reads = new StreamReads(registry, lake);
  }

  /** See StreamLifetime.visible. */
  visible(name: string, touch = true): Journal {
    return this.lifetime.visible(name, touch);
  }

  state(name: string): StreamState {
    return this.registry.state(name);
  }

  /** Creates a journal (201) or accepts an identical re-creation (200); 409 on a different one. */
  async create(name: string, spec: JournalSpec, opts: CreateOptions): Promise<{ created: boolean; journal: Journal }> {
    const existing = this.registry.get(name);
    if (existing && this.lifetime.expired(name, this.registry.state(name))) await this.lifetime.expire(name);
    const current = this.registry.get(name);
    if (current) {
      const st = this.registry.state(name);
      if (st.softDeleted) {
        throw new InletError('JOURNAL_EXISTS', `journal ${name} was deleted but forks still read it; the name cannot be reused yet`);
      }
      checkSameConfig(name, current.spec, st, spec, opts);
      return { created: false, journal: current };
    }

    let state: StreamState = {
      createdAt: new Date().toISOString(),
      ...(opts.ttlSeconds !== undefined ? { ttlSeconds: opts.ttlSeconds } : {}),
      ...(opts.expiresAt !== undefined ? { expiresAt: opts.expiresAt } : {}),
    };
    let prefix: Buffer | undefined;
    if (opts.forkedFrom !== undefined) {
      const fork = await planFork(this, opts);
      state = { ...state, ...fork.state };
      spec = { ...spec, contentType: fork.contentType };
      prefix = fork.prefix;
    }
    const initial = opts.initial && opts.initial.length > 0 ? encodeAppend(spec, opts.initial, { allowEmptyArray: true }) : undefined;
    let created = false;
    await this.registry.create(spec, state, () => {
      throw new InletError('JOURNAL_EXISTS', `journal ${name} already exists`);
    }).then((c) => (created = c)).catch(async (err: unknown) => {
      // Lost a race with an identical create: that is still idempotent success.
      if (err instanceof InletError && err.code === 'JOURNAL_EXISTS' && this.registry.get(name)) {
        checkSameConfig(name, this.registry.get(name)!.spec, this.registry.state(name), spec, opts);
        return;
      }
      throw err;
    });
    const journal = this.registry.require(name);
    if (!created) return { created: false, journal };
    for (const chunk of [prefix, initial]) {
      if (chunk && chunk.length > 0) await journal.append({ chunks: [chunk], length: chunk.length });
    }
    if (opts.closed) await this.registry.updateState(name, (s) => ({ ...s, closed: true }));
    this.lifetime.touch(name);
    return { created: true, journal };
  }

  /** Appends under the protocol's rules; producer and sequence checks run in commit order. */
  async append(name: string, body: Buffer, opts: AppendOptions): Promise<AppendOutcome> {
    const journal = this.lifetime.visible(name);
    const st = () => this.registry.state(name);
    if (body.length > 0 && opts.contentType !== undefined && mediaType(opts.contentType) !== mediaType(journal.spec.contentType)) {
      throw new InletError('JOURNAL_EXISTS', `content type ${opts.contentType} does not match journal ${name}'s ${journal.spec.contentType}`, {
        details: { reason: 'CONTENT_TYPE_MISMATCH' },
      });
    }
    const data = body.length > 0 ? encodeAppend(journal.spec, body) : Buffer.alloc(0);
    const p = opts.producer;
    let duplicateSeq: number | null = null;
    let duplicateOf: { begin: number; end: number } | undefined;
    let progress: ProducerState | undefined;
    /** The state a duplicate was recognised by: it may not be durable yet (its line still to be written). */
    let retried: ProducerState | undefined;
    let closedNow = false;
    let undo: (() => void) | undefined;
    /** The producer's line, written beside the append's bytes (see ProducerLog). */
    let line: LoggedLine | undefined;

    const result = await journal.append({
      chunks: data.length > 0 ? [data] : [],
      length: data.length,
      ...(opts.expectOffset !== undefined ? { expectOffset: opts.expectOffset } : {}),
      precondition: (head) => {
        const s = st();
        if (s.closed) {
          const cb = s.closedBy;
          if (p && cb && cb.producerId === p.id && cb.epoch === p.epoch && cb.seq === p.seq) {
            duplicateSeq = p.seq;
            return { begin: head, end: head };
          }
          // Closing a closed journal again is idempotent.
          if (!p && opts.close && data.length === 0) return { begin: head, end: head };
          throw closedError(name, head);
        }
        if (p) {
          const verdict = checkProducer(s.producers?.[p.id], p);
          if (verdict === 'duplicate') {
            const last = s.producers![p.id]!;
            duplicateSeq = last.lastSeq;
            retried = last;
            // A retry of the last append is answered with where that append landed.
            if (last.epoch === p.epoch && last.lastSeq === p.seq && last.begin !== undefined && last.end !== undefined) {
              duplicateOf = { begin: last.begin, end: last.end };
            }
            return { begin: head, end: head };
          }
        }
        if (opts.seq !== undefined && s.lastSeq !== undefined && opts.seq <= s.lastSeq) {
          throw new InletError('SEQUENCE_CONFLICT', `Stream-Seq ${opts.seq} does not sort after the last accepted ${s.lastSeq}`);
        }
        // Apply in memory now, so later appends of the same batch see it; undone if the batch fails.
        const before = { producers: s.producers, lastSeq: s.lastSeq, closed: s.closed, closedBy: s.closedBy };
        const next: StreamState = { ...s };
        if (p) {
          progress = { epoch: p.epoch, lastSeq: p.seq, lastUpdated: Date.now(), begin: head, end: head + data.length };
          next.producers = { ...pruneProducers(s.producers), [p.id]: progress };
        }
        if (opts.seq !== undefined) next.lastSeq = opts.seq;
        if (opts.close) {
          next.closed = true;
          if (p) next.closedBy = { producerId: p.id, epoch: p.epoch, seq: p.seq };
          closedNow = true;
        }
        this.registry.setState(name, next);
        undo = () => this.registry.setState(name, { ...st(), ...before });
        return undefined;
      },
      onWritten: () => {
        if (progress) line = this.registry.logProducer(name, p!.id, progress);
      },
      onFail: () => {
        undo?.();
        return line?.cancel();
      },
    });
    // Closure, producer progress and Stream-Seq are durable before the append is acknowledged,
    // so a retry after a restart is still recognised.
    if (line) {
      line.confirm();
      await line.written;
    }
    // A retry is acknowledged only once what it was recognised by is durable (a no-op line when
    // it already is), so no acknowledgement outlives a crash that the producer's state does not.
    if (retried) await this.registry.recordProducer(name, p!.id, retried);
    if (closedNow) {
      await this.registry.updateState(name, (s) => s);
      journal.notify();
    } else if (duplicateSeq === null && opts.seq !== undefined) {
      await this.registry.updateState(name, (s) => s, { local: true });
    }
    if (duplicateSeq !== null) {
      return { kind: 'duplicate', lastSeq: duplicateSeq, closed: !!st().closed, head: journal.head, ...(duplicateOf ? { of: duplicateOf } : {}) };
    }
    return { kind: 'appended', result, closed: !!st().closed };
  }
}

export function closedError(name: string, head: number): InletError {
  return new InletError('STREAM_CLOSED', `journal ${name} is closed`, { details: { writeHead: head } });
}
