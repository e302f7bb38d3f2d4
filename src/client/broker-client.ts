import { request, type Dispatcher } from 'undici';
import { InletError, type ErrorBody, type ErrorCode } from '../errors.js';
import type { CollectionInfo, CollectionList, IngestResult } from '../protocol/collections.js';
import type { FlushResults, FragmentList, JournalFragments, PrunedFragment, PruneResults } from '../protocol/fragments.js';
import type { JournalSpecInput } from '../protocol/journal-spec.js';
import type { ApplyResults, JournalInfo, JournalList } from '../protocol/journals.js';
import { formatOffset } from '../protocol/offsets.js';
import { BatchingAppender, type BatchingOptions } from './batching-appender.js';

export const DEFAULT_BROKER = 'http://127.0.0.1:8080';

export type { FragmentInfo, JournalFragments } from '../protocol/fragments.js';
export type { JournalInfo } from '../protocol/journals.js';

export interface StreamRead {
  status: number;
  body: AsyncIterable<Buffer> & { dump(): Promise<void> };
  /** Offset after the bytes of this response. */
  next: number;
  upToDate: boolean;
  closed: boolean;
}

/**
 * A small HTTP client of one broker: journal specs, appends and reads. With a token (default
 * `$INLET_TOKEN`) every request carries `Authorization: Bearer <token>`.
 */
export class BrokerClient {
  readonly url: string;
  private readonly auth: Record<string, string>;
  private readonly dispatcher: Dispatcher | undefined;

  /**
   * `dispatcher`: the connection pool to use instead of undici's global one, so that a client in
   * the broker's own process can close its keep-alive connections when it stops (the broker's
   * server waits for them at its own stop).
   */
  constructor(url = process.env.INLET_BROKER || DEFAULT_BROKER, opts: { token?: string; dispatcher?: Dispatcher } = {}) {
    this.url = url.replace(/\/+$/, '');
    this.dispatcher = opts.dispatcher;
    const token = opts.token || process.env.INLET_TOKEN;
    this.auth = token ? { authorization: `Bearer ${token}` } : {};
  }

  /**
   * An appender that coalesces single documents from many callers into one append per journal
   * per tick (`linger` ms, default 0 = next tick); each caller gets its own offsets.
   */
  batching(opts: BatchingOptions = {}): BatchingAppender {
    return new BatchingAppender(this, opts);
  }

  streamUrl(journal: string): string {
    return `${this.url}/v1/stream/${journal.split('/').map(encodeURIComponent).join('/')}`;
  }

  async listJournals(selector?: string): Promise<JournalInfo[]> {
    const q = selector ? `?selector=${encodeURIComponent(selector)}` : '';
    const body = (await this.call('GET', `${this.url}/v1/journals${q}`)) as JournalList;
    return body.journals;
  }

  /**
   * Lists journals with the revision of the broker's set of journals; given `revision`, the
   * broker answers only once its set differs from it (a journal created, updated, closed or
   * deleted), or at its long-poll timeout with the same revision.
   */
  async watchJournals(selector: string | undefined, revision: string | undefined, signal?: AbortSignal): Promise<JournalList> {
    const q = new URLSearchParams();
    if (selector) q.set('selector', selector);
    if (revision !== undefined) q.set('watch', revision);
    const res = await this.send('GET', `${this.url}/v1/journals?${q}`, undefined, undefined, signal);
    const text = await res.body.text();
    if (res.statusCode >= 300) throw errorOf(res.statusCode, text);
    return JSON.parse(text) as JournalList;
  }

  /** Sends a journals YAML file (see `inlet journals apply`) or specs; the broker validates all before applying any. */
  async applyJournals(specs: string | { journals: JournalSpecInput[] }, dryRun: boolean): Promise<ApplyResults['results']> {
    const [text, type] = typeof specs === 'string' ? [specs, 'application/yaml'] : [JSON.stringify(specs), 'application/json'];
    const body = (await this.call('POST', `${this.url}/v1/journals/apply?dryRun=${dryRun}`, text, type)) as ApplyResults;
    return body.results;
  }

  /** Fragments of one journal (`journal`) or of every journal a selector picks. */
  async listFragments(which: { journal?: string; selector?: string }, signed = false): Promise<JournalFragments[]> {
    const body = (await this.call('GET', `${this.url}/v1/fragments?${fragmentQuery(which)}&signed=${signed}`)) as FragmentList;
    return body.journals;
  }

  /**
   * Deletes (or with dryRun, lists) fragments wholly older than their journal's retention, or
   * with `below`, those wholly below that offset.
   */
  async pruneFragments(which: { journal?: string; selector?: string }, dryRun: boolean, below?: number): Promise<PrunedFragment[]> {
    const by = below === undefined ? '' : `&below=${below}`;
    const body = (await this.call('POST', `${this.url}/v1/fragments/prune?${fragmentQuery(which)}&dryRun=${dryRun}${by}`)) as PruneResults;
    return body.pruned;
  }

  /** Seals the journals' spools now and resolves once their fragments are in the store. */
  async flushFragments(which: { journal?: string; selector?: string }): Promise<FlushResults['journals']> {
    const body = (await this.call('POST', `${this.url}/v1/fragments/flush?${fragmentQuery(which)}`)) as FlushResults;
    return body.journals;
  }

  /** The journal's content type and write head (HEAD). */
  async head(journal: string): Promise<{ contentType: string; writeHead: number }> {
    const res = await this.send('HEAD', this.streamUrl(journal));
    await res.body.dump();
    if (res.statusCode !== 200) throw statusError(res.statusCode, `journal ${journal}`);
    return {
      contentType: String(res.headers['content-type'] ?? 'application/octet-stream'),
      writeHead: offsetHeader(res.headers['stream-next-offset']),
    };
  }

  /** Deletes a journal (DELETE on its stream). */
  async deleteJournal(journal: string): Promise<void> {
    const res = await this.send('DELETE', this.streamUrl(journal));
    const text = await res.body.text();
    if (res.statusCode >= 300) throw errorOf(res.statusCode, text);
  }

  /**
   * Appends one batch atomically; resolves with its `[begin, end)`. As an idempotent producer,
   * a batch the broker already has answers `duplicate`, with the offsets it landed at when it was
   * the producer's last append (NaN otherwise). With `expectOffset`,
   * the append fails with WRONG_APPEND_OFFSET unless the write head is there.
   */
  async append(
    journal: string,
    data: Buffer,
    contentType: string,
    opts: { producer?: { id: string; epoch: number; seq: number }; expectOffset?: number } = {},
  ): Promise<{ begin: number; end: number; duplicate?: boolean }> {
    const headers: Record<string, string> = {};
    if (opts.producer) {
      headers['producer-id'] = opts.producer.id;
      headers['producer-epoch'] = String(opts.producer.epoch);
      headers['producer-seq'] = String(opts.producer.seq);
    }
    if (opts.expectOffset !== undefined) headers['inlet-expect-offset'] = formatOffset(opts.expectOffset);
    const res = await this.send('POST', this.streamUrl(journal), data, contentType, undefined, headers);
    const text = await res.body.text();
    if (res.statusCode >= 300) throw errorOf(res.statusCode, text);
    const offsets = { begin: Number(res.headers['inlet-append-begin'] ?? NaN), end: Number(res.headers['inlet-append-end'] ?? NaN) };
    // A producer's append answers 200; a retry recognised as a duplicate answers 204, with the
    // offsets of the append it repeats when it is the producer's last.
    return opts.producer && res.statusCode === 204 ? { ...offsets, duplicate: true } : offsets;
  }

  /**
   * One ingest transaction: `{ "<collection>": [documents…] }`. With a producer, a retry of
   * the same `seq` after a lost response is answered without writing twice.
   */
  async ingest(
    docs: Record<string, unknown[]> | string,
    producer?: { id: string; seq: number },
  ): Promise<IngestResult> {
    const headers: Record<string, string> = producer ? { 'producer-id': producer.id, 'producer-seq': String(producer.seq) } : {};
    const res = await this.send('POST', `${this.url}/ingest`, typeof docs === 'string' ? docs : JSON.stringify(docs), 'application/json', undefined, headers);
    const text = await res.body.text();
    if (res.statusCode >= 300) throw errorOf(res.statusCode, text);
    return JSON.parse(text) as IngestResult;
  }

  /** The collections of the broker's catalog. */
  async listCollections(): Promise<CollectionInfo[]> {
    return ((await this.call('GET', `${this.url}/v1/collections`)) as CollectionList).collections;
  }

  /**
   * One read of the Durable Streams API from `offset`: the response's headers and its body as
   * a stream (consumed by the caller). `live` long-polls at the write head.
   */
  async readFrom(journal: string, offset: number, live: boolean, signal?: AbortSignal): Promise<StreamRead> {
    const res = await this.send('GET', `${this.streamUrl(journal)}?offset=${formatOffset(offset)}${live ? '&live=long-poll' : ''}`, undefined, undefined, signal);
    if (res.statusCode >= 300 && res.statusCode !== 304) {
      throw errorOf(res.statusCode, await res.body.text());
    }
    const h = res.headers;
    return {
      status: res.statusCode,
      body: res.body,
      next: offsetHeader(h['stream-next-offset']),
      upToDate: h['stream-up-to-date'] === 'true',
      closed: h['stream-closed'] === 'true',
    };
  }

  private async call(method: Dispatcher.HttpMethod, url: string, body?: string, type?: string): Promise<unknown> {
    const res = await this.send(method, url, body, type);
    const text = await res.body.text();
    if (res.statusCode >= 300) throw errorOf(res.statusCode, text);
    return JSON.parse(text);
  }

  private async send(method: Dispatcher.HttpMethod, url: string, body?: string | Buffer, type?: string, signal?: AbortSignal, headers: Record<string, string> = {}) {
    try {
      return await request(url, { method, body, headers: { ...this.auth, ...headers, ...(type ? { 'content-type': type } : {}) }, signal, ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}) });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new InletError('IO_ERROR', `cannot reach the broker at ${this.url}: ${(err as Error).message}`, { cause: err });
    }
  }
}

function fragmentQuery(which: { journal?: string; selector?: string }): string {
  return which.journal !== undefined ? `journal=${encodeURIComponent(which.journal)}` : `selector=${encodeURIComponent(which.selector ?? '')}`;
}

function offsetHeader(v: string | string[] | undefined): number {
  const s = String(v ?? '');
  return Number(s.includes('_') ? s.split('_')[1] : s);
}

/** Rebuilds the broker's JSON error (`{ error: { code, message } }`) on the client side. */
function errorOf(status: number, text: string): InletError {
  try {
    const e = (JSON.parse(text) as ErrorBody & { error: { code: ErrorCode } }).error;
    if (e?.code && e.message) {
      const { code, message, ...details } = e;
      return new InletError(code, message, { details });
    }
  } catch {
    // Not one of ours: fall through.
  }
  return statusError(status, text.slice(0, 200) || 'request');
}

function statusError(status: number, what: string): InletError {
  if (status === 404) return new InletError('JOURNAL_NOT_FOUND', `${what}: not found`);
  return new InletError(status >= 500 ? 'IO_ERROR' : 'BAD_REQUEST', `${what}: HTTP ${status}`);
}
