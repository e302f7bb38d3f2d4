import { InletError } from '../errors.js';
import type { Journal, AppendResult } from '../journal/journal.js';
import type { JournalRegistry } from '../journal/registry.js';
import { isLineOriented, mediaType, type JournalSpec } from '../journal/spec.js';
import type { ProducerState, StreamState } from '../journal/stream-state.js';
import { encodeAppend } from './content.js';
import type { Lake } from './lake.js';
import type { Fragment } from '../fragments/fragment-index.js';

/** Producer states idle longer than this are forgotten (as Kafka-style idempotence does). */
const PRODUCER_STATE_TTL_MS = 7 * 24 * 3600 * 1000;

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

export interface Producer {
  id: string;
  epoch: number;
  seq: number;
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
  | { kind: 'duplicate'; lastSeq: number; closed: boolean; head: number };

/**
 * The Durable Streams protocol's semantics over journals: creation with lifetime and fork
 * options, appends with writer sequencing, idempotent producers and closure, reads that
 * follow fork ancestry, and deletion that keeps sources alive while forks read them.
 */
export class StreamService {
  private readonly lastAccess = new Map<string, number>();

  constructor(
    readonly registry: JournalRegistry,
    private readonly lake: Lake,
  ) {}

  /**
   * The live journal named `name`. Throws JOURNAL_NOT_FOUND if it does not exist or
   * expired, OFFSET_GONE (410) if it was deleted while forks still read from it.
   */
  visible(name: string, touch = true): Journal {
    const j = this.registry.get(name);
    if (!j) throw this.registry.failures.get(name) ?? notFoundError(name);
    const st = this.registry.state(name);
    if (!st.softDeleted && this.expired(name, st)) {
      void this.expire(name);
      if (this.refCount(name) === 0) throw notFoundError(name);
    }
    if (this.registry.state(name).softDeleted || (this.expired(name, st) && this.refCount(name) > 0)) {
      throw new InletError('OFFSET_GONE', `journal ${name} was deleted; forks still read its history`);
    }
    if (touch) this.lastAccess.set(name, Date.now());
    return j;
  }

  state(name: string): StreamState {
    return this.registry.state(name);
  }

  /** Creates a journal (201) or accepts an identical re-creation (200); 409 on a different one. */
  async create(name: string, spec: JournalSpec, opts: CreateOptions): Promise<{ created: boolean; journal: Journal }> {
    const existing = this.registry.get(name);
    if (existing && this.expired(name, this.registry.state(name))) await this.expire(name);
    const current = this.registry.get(name);
    if (current) {
      const st = this.registry.state(name);
      if (st.softDeleted) {
        throw new InletError('JOURNAL_EXISTS', `journal ${name} was deleted but forks still read it; the name cannot be reused yet`);
      }
      this.checkSameConfig(name, current.spec, st, spec, opts);
      return { created: false, journal: current };
    }

    let state: StreamState = {
      createdAt: new Date().toISOString(),
      ...(opts.ttlSeconds !== undefined ? { ttlSeconds: opts.ttlSeconds } : {}),
      ...(opts.expiresAt !== undefined ? { expiresAt: opts.expiresAt } : {}),
    };
    let prefix: Buffer | undefined;
    if (opts.forkedFrom !== undefined) {
      const fork = await this.planFork(opts);
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
        this.checkSameConfig(name, this.registry.get(name)!.spec, this.registry.state(name), spec, opts);
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
    this.lastAccess.set(name, Date.now());
    return { created: true, journal };
  }

  private checkSameConfig(name: string, spec: JournalSpec, st: StreamState, want: JournalSpec, opts: CreateOptions): void {
    const type = (t: string | undefined) => mediaType(t ?? 'application/octet-stream');
    const same =
      (opts.contentType === undefined && opts.forkedFrom !== undefined
        ? true
        : type(opts.contentType ?? want.contentType) === type(spec.contentType)) &&
      opts.ttlSeconds === st.ttlSeconds &&
      opts.expiresAt === st.expiresAt &&
      (opts.closed ?? false) === (st.closed ?? false) &&
      opts.forkedFrom === st.forkedFrom &&
      (opts.forkOffset === undefined || opts.forkOffset === st.forkOffset) &&
      (opts.forkSubOffset ?? 0) === (st.forkSubOffset ?? 0);
    if (!same) {
      throw new InletError('JOURNAL_EXISTS', `journal ${name} already exists with a different configuration`);
    }
  }

  /** Validates a fork's source and offsets, and computes its inherited settings and prefix. */
  private async planFork(
    opts: CreateOptions,
  ): Promise<{ state: Partial<StreamState>; contentType: string; prefix?: Buffer }> {
    const sourceName = opts.forkedFrom!;
    const source = this.registry.get(sourceName);
    if (!source || (this.expired(sourceName, this.registry.state(sourceName)) && this.refCount(sourceName) === 0)) {
      throw new InletError('JOURNAL_NOT_FOUND', `fork source ${sourceName} does not exist`);
    }
    const sst = this.registry.state(sourceName);
    if (sst.softDeleted) {
      throw new InletError('JOURNAL_EXISTS', `fork source ${sourceName} was deleted but still has forks`);
    }
    if (opts.contentType !== undefined && mediaType(opts.contentType) !== mediaType(source.spec.contentType)) {
      throw new InletError('JOURNAL_EXISTS', `content type ${opts.contentType} does not match the fork source's ${source.spec.contentType}`);
    }
    const forkOffset = opts.forkOffset ?? source.head;
    if (forkOffset < 0 || forkOffset > source.head) {
      throw new InletError('INVALID_OFFSET', `fork offset ${forkOffset} is beyond the source's write head ${source.head}`);
    }
    let prefix: Buffer | undefined;
    if (opts.forkSubOffset && opts.forkSubOffset > 0) {
      prefix = await this.subOffsetPrefix(sourceName, forkOffset, opts.forkSubOffset, isLineOriented(source.spec));
    }
    const lifetime =
      opts.ttlSeconds !== undefined
        ? { ttlSeconds: opts.ttlSeconds }
        : opts.expiresAt !== undefined
          ? { expiresAt: opts.expiresAt }
          : sst.ttlSeconds !== undefined
            ? { ttlSeconds: sst.ttlSeconds }
            : sst.expiresAt !== undefined
              ? { expiresAt: sst.expiresAt }
              : {};
    return {
      state: {
        ...lifetime,
        forkedFrom: sourceName,
        forkOffset,
        ...(opts.forkSubOffset ? { forkSubOffset: opts.forkSubOffset } : {}),
      },
      contentType: source.spec.contentType,
      prefix,
    };
  }

  /** The source bytes a sub-offset reaches past the fork offset: messages for line journals, else bytes. */
  private async subOffsetPrefix(source: string, offset: number, sub: number, lines: boolean): Promise<Buffer> {
    const j = this.registry.require(source);
    const available = await this.readAt(source, offset, j.head - offset);
    if (!lines) {
      if (sub > available.length) throw new InletError('INVALID_OFFSET', `invalid fork sub-offset ${sub}: only ${available.length} bytes follow the fork offset`);
      return available.subarray(0, sub);
    }
    let at = 0;
    for (let i = 0; i < sub; i++) {
      const nl = available.indexOf(10, at);
      if (nl < 0) throw new InletError('INVALID_OFFSET', `invalid fork sub-offset ${sub}: only ${i} messages follow the fork offset`);
      at = nl + 1;
    }
    return available.subarray(0, at);
  }

  /** Appends under the protocol's rules; producer and sequence checks run in commit order. */
  async append(name: string, body: Buffer, opts: AppendOptions): Promise<AppendOutcome> {
    const journal = this.visible(name);
    const st = () => this.registry.state(name);
    if (body.length > 0 && opts.contentType !== undefined && mediaType(opts.contentType) !== mediaType(journal.spec.contentType)) {
      throw new InletError('JOURNAL_EXISTS', `content type ${opts.contentType} does not match journal ${name}'s ${journal.spec.contentType}`, {
        details: { reason: 'CONTENT_TYPE_MISMATCH' },
      });
    }
    const data = body.length > 0 ? encodeAppend(journal.spec, body) : Buffer.alloc(0);
    const p = opts.producer;
    let duplicateSeq: number | null = null;
    let closedNow = false;
    let undo: (() => void) | undefined;

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
            duplicateSeq = s.producers![p.id]!.lastSeq;
            return { begin: head, end: head };
          }
        }
        if (opts.seq !== undefined && s.lastSeq !== undefined && opts.seq <= s.lastSeq) {
          throw new InletError('SEQUENCE_CONFLICT', `Stream-Seq ${opts.seq} does not sort after the last accepted ${s.lastSeq}`);
        }
        // Apply in memory now, so later appends of the same batch see it; undone if the batch fails.
        const before = { producers: s.producers, lastSeq: s.lastSeq, closed: s.closed, closedBy: s.closedBy };
        const next: StreamState = { ...s };
        if (p) next.producers = { ...pruneProducers(s.producers), [p.id]: { epoch: p.epoch, lastSeq: p.seq, lastUpdated: Date.now() } };
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
      onFail: () => undo?.(),
    });
    // Closure, producer progress and Stream-Seq are durable before the append is acknowledged,
    // so a retry after a restart is still recognised.
    if (closedNow) {
      await this.registry.updateState(name, (s) => s);
      journal.notify();
    } else if (duplicateSeq === null && (p || opts.seq !== undefined)) {
      await this.registry.updateState(name, (s) => s, { local: true });
    }
    if (duplicateSeq !== null) {
      return { kind: 'duplicate', lastSeq: duplicateSeq, closed: !!st().closed, head: journal.head };
    }
    return { kind: 'appended', result, closed: !!st().closed };
  }

  /** Reads committed bytes of `name` from `offset`, following fork ancestry below the fork point. */
  async readAt(name: string, offset: number, max: number): Promise<Buffer> {
    const j = this.registry.require(name);
    const st = this.registry.state(name);
    if (st.forkedFrom !== undefined && offset < (st.forkOffset ?? 0)) {
      return this.readAt(st.forkedFrom, offset, Math.min(max, st.forkOffset! - offset));
    }
    if (offset < j.localBegin) return this.readPersisted(j, offset, Math.min(max, j.localBegin - offset));
    return j.read(offset, max);
  }

  /**
   * Where `offset` of `journal` is read from: a persisted fragment (history no longer on local
   * disk), or undefined when the broker holds it locally (or in a fork's source).
   */
  persistedAt(journal: Journal, offset: number): Fragment | undefined {
    const st = this.registry.state(journal.name);
    if (st.forkedFrom !== undefined && offset < (st.forkOffset ?? 0)) return undefined;
    return offset < journal.localBegin ? this.lake.fragmentAt(journal, offset) : undefined;
  }

  /** Up to `max` bytes from `offset`, out of the fragment in the store that holds them. */
  private async readPersisted(journal: Journal, offset: number, max: number): Promise<Buffer> {
    const stream = await this.lake.read(this.lake.fragmentAt(journal, offset), offset);
    const parts: Buffer[] = [];
    let got = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        parts.push(chunk);
        got += chunk.length;
        if (got >= max) break;
      }
    } finally {
      stream.destroy();
    }
    const all = Buffer.concat(parts);
    return all.length > max ? all.subarray(0, max) : all;
  }

  /**
   * Reads up to `max` committed bytes from `offset` toward `head`, across a fork point.
   * Line-oriented journals are cut after the last whole line (a longer line is read whole).
   */
  async readChunk(journal: Journal, offset: number, max: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let pos = offset;
    let want = max;
    const lines = isLineOriented(journal.spec);
    for (;;) {
      while (pos < journal.head && pos - offset < want) {
        const part = await this.readAt(journal.name, pos, want - (pos - offset));
        if (part.length === 0) break;
        parts.push(part);
        pos += part.length;
      }
      const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (!lines || data.length === 0 || data[data.length - 1] === 10) return data;
      const nl = data.lastIndexOf(10);
      if (nl >= 0) return data.subarray(0, nl + 1);
      if (pos >= journal.head) return data;
      want *= 2;
    }
  }

  /** Deletes a journal; one still read by forks is only hidden until they are gone. */
  async remove(name: string): Promise<void> {
    const st = this.registry.state(name);
    if (st.softDeleted) throw new InletError('OFFSET_GONE', `journal ${name} was already deleted`);
    if (this.refCount(name) > 0) {
      await this.registry.updateState(name, (s) => ({ ...s, softDeleted: true }));
      this.registry.require(name).notify();
      return;
    }
    await this.removeCascade(name);
  }

  private async removeCascade(name: string): Promise<void> {
    const source = this.registry.state(name).forkedFrom;
    const journal = this.registry.require(name);
    // The journal goes first (no more appends or uploads), then its fragments.
    await this.registry.remove(name);
    await this.lake.forget(journal);
    this.lastAccess.delete(name);
    if (source !== undefined && this.registry.get(source)) {
      const sst = this.registry.state(source);
      if ((sst.softDeleted || this.expired(source, sst)) && this.refCount(source) === 0) await this.removeCascade(source);
    }
  }

  /** Journals whose fork ancestry reads from `name`. */
  refCount(name: string): number {
    let n = 0;
    for (const j of this.registry.list()) if (this.registry.state(j.name).forkedFrom === name) n++;
    return n;
  }

  private expired(name: string, st: StreamState): boolean {
    const now = Date.now();
    if (st.expiresAt !== undefined) {
      const at = Date.parse(st.expiresAt);
      if (!Number.isFinite(at) || now >= at) return true;
    }
    if (st.ttlSeconds !== undefined) {
      const last = this.lastAccess.get(name) ?? Date.parse(st.createdAt);
      if (now >= last + st.ttlSeconds * 1000) return true;
    }
    return false;
  }

  /** Removes an expired journal, or hides it while forks still read it. */
  private async expire(name: string): Promise<void> {
    if (!this.registry.get(name)) return;
    if (this.refCount(name) > 0) {
      if (!this.registry.state(name).softDeleted) await this.registry.updateState(name, (s) => ({ ...s, softDeleted: true }));
      return;
    }
    await this.removeCascade(name).catch(() => undefined);
  }
}

function checkProducer(state: ProducerState | undefined, p: Producer): 'accept' | 'duplicate' {
  const fresh = state && Date.now() - state.lastUpdated <= PRODUCER_STATE_TTL_MS ? state : undefined;
  if (!fresh) {
    if (p.seq !== 0) throw producerGap(0, p.seq);
    return 'accept';
  }
  if (p.epoch < fresh.epoch) {
    throw new InletError('PRODUCER_STALE_EPOCH', `producer ${p.id}: epoch ${p.epoch} is older than the current ${fresh.epoch}`, {
      details: { currentEpoch: fresh.epoch },
    });
  }
  if (p.epoch > fresh.epoch) {
    if (p.seq !== 0) throw new InletError('BAD_REQUEST', `producer ${p.id}: a new epoch must start at sequence 0`);
    return 'accept';
  }
  if (p.seq <= fresh.lastSeq) return 'duplicate';
  if (p.seq === fresh.lastSeq + 1) return 'accept';
  throw producerGap(fresh.lastSeq + 1, p.seq);
}

function pruneProducers(producers: Record<string, ProducerState> | undefined): Record<string, ProducerState> {
  const now = Date.now();
  return Object.fromEntries(Object.entries(producers ?? {}).filter(([, s]) => now - s.lastUpdated <= PRODUCER_STATE_TTL_MS));
}

function producerGap(expected: number, received: number): InletError {
  return new InletError('PRODUCER_SEQUENCE_GAP', `producer sequence gap: expected ${expected}, received ${received}`, {
    details: { expectedSeq: expected, receivedSeq: received },
  });
}

export function closedError(name: string, head: number): InletError {
  return new InletError('STREAM_CLOSED', `journal ${name} is closed`, { details: { writeHead: head } });
}

function notFoundError(name: string): InletError {
  return new InletError('JOURNAL_NOT_FOUND', `journal ${name} does not exist`);
}
