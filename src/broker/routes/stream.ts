import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InletError } from '../../errors.js';
import { validateJournalName } from '../../protocol/names.js';
import { formatOffset, parseOffset } from '../../protocol/offsets.js';
import { mediaType } from '../../journal/spec.js';
import { authorize } from '../access/index.js';
import type { Broker } from '../broker.js';
import { jsonArrayOf } from '../content.js';
import type { Producer } from '../streams.js';
import { nextCursor } from '../cursor.js';
import { handleSse } from './sse.js';

export const STREAM_PREFIX = '/v1/stream/';

const H = {
  nextOffset: 'stream-next-offset',
  upToDate: 'stream-up-to-date',
  cursor: 'stream-cursor',
  closed: 'stream-closed',
  ttl: 'stream-ttl',
  expiresAt: 'stream-expires-at',
  seq: 'stream-seq',
  producerId: 'producer-id',
  producerEpoch: 'producer-epoch',
  producerSeq: 'producer-seq',
  expectOffset: 'inlet-expect-offset',
} as const;

/** The Durable Streams protocol at `/v1/stream/<journal name>`. */
export function streamRoutes(app: FastifyInstance, broker: Broker): void {
  const streams = broker.streams;

  app.route({
    method: ['PUT', 'POST', 'GET', 'HEAD', 'DELETE'],
    url: `${STREAM_PREFIX}*`,
    handler: async (req, reply) => {
      const name = journalNameOf(req);
      authorize(req, { name, labels: broker.registry.get(name)?.spec.labels ?? {} });
      switch (req.method) {
        case 'PUT':
          return create(name, req, reply);
        case 'POST':
          return append(name, req, reply);
        case 'GET':
          return read(name, req, reply);
        case 'HEAD':
          return head(name, reply);
        default:
          await streams.lifetime.remove(streams.visible(name, false).name);
          return reply.code(204).send();
      }
    },
  });

  async function create(name: string, req: FastifyRequest, reply: FastifyReply) {
    const h = req.headers;
    const forkedFrom = header(h['stream-forked-from']);
    const rawType = header(h['content-type']);
    const validType = rawType !== undefined && /^[\w.+-]+\/[\w.+-]+/.test(rawType.trim()) ? rawType.trim() : undefined;
    const ttl = header(h[H.ttl]);
    const expiresAt = header(h[H.expiresAt]);
    if (ttl !== undefined && expiresAt !== undefined) {
      throw new InletError('BAD_REQUEST', 'Stream-TTL and Stream-Expires-At cannot both be given');
    }
    if (ttl !== undefined && !/^(0|[1-9]\d*)$/.test(ttl)) {
      throw new InletError('BAD_REQUEST', `Stream-TTL must be a non-negative integer of seconds, got ${JSON.stringify(ttl)}`);
    }
    if (expiresAt !== undefined && !Number.isFinite(Date.parse(expiresAt))) {
      throw new InletError('BAD_REQUEST', `Stream-Expires-At must be an RFC 3339 timestamp, got ${JSON.stringify(expiresAt)}`);
    }
    if (forkedFrom !== undefined) {
      const source = sourceName(forkedFrom);
      authorize(req, { name: source, labels: broker.registry.get(source)?.spec.labels ?? {} }, 'READ');
    }
    const forkOffsetRaw = header(h['stream-fork-offset']);
    const subRaw = header(h['stream-fork-sub-offset']);
    if (subRaw !== undefined) {
      if (forkedFrom === undefined) throw new InletError('BAD_REQUEST', 'Stream-Fork-Sub-Offset requires Stream-Forked-From');
      if (!/^(0|[1-9]\d*)$/.test(subRaw)) throw new InletError('BAD_REQUEST', `invalid Stream-Fork-Sub-Offset ${JSON.stringify(subRaw)}`);
    }
    let forkOffset: number | undefined;
    if (forkOffsetRaw !== undefined) {
      if (!/^\d+_\d+$/.test(forkOffsetRaw)) throw new InletError('INVALID_OFFSET', `invalid Stream-Fork-Offset ${JSON.stringify(forkOffsetRaw)}`);
      forkOffset = parseOffset(forkOffsetRaw) as number;
    }
    const spec = broker.registry.resolve({ name, ...(validType ? { contentType: validType } : {}) });
    const { created, journal } = await streams.create(name, spec, {
      contentType: validType ?? (forkedFrom === undefined ? 'application/octet-stream' : undefined),
      ...(ttl !== undefined ? { ttlSeconds: Number(ttl) } : {}),
      ...(expiresAt !== undefined ? { expiresAt } : {}),
      closed: header(h[H.closed])?.toLowerCase() === 'true',
      initial: bodyOf(req),
      ...(forkedFrom !== undefined ? { forkedFrom: sourceName(forkedFrom) } : {}),
      ...(forkOffset !== undefined ? { forkOffset } : {}),
      ...(subRaw !== undefined ? { forkSubOffset: Number(subRaw) } : {}),
    });
    reply.header('content-type', journal.spec.contentType).header(H.nextOffset, formatOffset(journal.head));
    if (streams.state(name).closed) reply.header(H.closed, 'true');
    if (created) reply.header('location', `${req.protocol}://${req.headers.host}${STREAM_PREFIX}${encodePath(name)}`);
    return reply.code(created ? 201 : 200).send();
  }

  async function append(name: string, req: FastifyRequest, reply: FastifyReply) {
    const h = req.headers;
    const close = header(h[H.closed])?.toLowerCase() === 'true';
    const producer = producerOf(req);
    const body = bodyOf(req);
    const contentType = header(h['content-type']);
    if (body.length === 0 && !close) throw new InletError('EMPTY_APPEND', 'an append needs a body (or Stream-Closed: true to close)');
    if (body.length > 0 && !contentType) throw new InletError('BAD_REQUEST', 'Content-Type is required on an append with a body');
    const expect = header(h[H.expectOffset]);
    broker.checkBacklog(broker.registry.get(name));
    const outcome = await streams.append(name, body, {
      ...(contentType ? { contentType } : {}),
      ...(header(h[H.seq]) !== undefined ? { seq: header(h[H.seq]) } : {}),
      ...(producer ? { producer } : {}),
      ...(expect !== undefined ? { expectOffset: parseOffset(expect) as number } : {}),
      close,
    });
    if (outcome.kind === 'duplicate') {
      if (outcome.closed) reply.header(H.closed, 'true').header(H.nextOffset, formatOffset(outcome.head));
      if (outcome.of) reply.header('inlet-append-begin', String(outcome.of.begin)).header('inlet-append-end', String(outcome.of.end));
      return reply
        .code(204)
        .header(H.producerEpoch, String(producer!.epoch))
        .header(H.producerSeq, String(outcome.lastSeq))
        .send();
    }
    reply
      .header(H.nextOffset, formatOffset(outcome.result.end))
      .header('inlet-append-begin', String(outcome.result.begin))
      .header('inlet-append-end', String(outcome.result.end));
    if (outcome.closed) reply.header(H.closed, 'true');
    if (producer) {
      reply.header(H.producerEpoch, String(producer.epoch)).header(H.producerSeq, String(producer.seq));
      // A producer's append answers 200; a close-only request has no content and answers 204.
      return reply.code(body.length > 0 ? 200 : 204).send();
    }
    return reply.code(204).send();
  }

  async function read(name: string, req: FastifyRequest, reply: FastifyReply) {
    const q = new URLSearchParams(req.url.slice(req.url.indexOf('?') + 1 || req.url.length));
    const offsets = q.getAll('offset');
    const live = q.get('live');
    if (offsets.length > 1) throw new InletError('INVALID_OFFSET', 'only one offset parameter is allowed');
    if (offsets[0] === '') throw new InletError('INVALID_OFFSET', 'the offset parameter is empty');
    if (live !== null && live !== 'long-poll' && live !== 'sse') {
      throw new InletError('BAD_REQUEST', `live must be long-poll or sse, got ${JSON.stringify(live)}`);
    }
    if (live && offsets.length === 0) throw new InletError('INVALID_OFFSET', `live=${live} requires an offset parameter`);
    const from = offsets.length ? parseOffset(offsets[0]!) : 0;
    const journal = streams.visible(name);
    const offset = from === 'now' ? journal.head : from;
    if (offset > journal.head) {
      throw new InletError('INVALID_OFFSET', `offset ${offset} is beyond the write head ${journal.head} of journal ${name}`);
    }
    const cursor = q.get('cursor') ?? undefined;
    if (live === 'sse') return handleSse(broker, journal, offset, cursor, req, reply);

    const json = mediaType(journal.spec.contentType) === 'application/json';
    const mode = live ? 'long-poll' : 'catch-up';
    broker.metrics.readers.inc({ mode });
    try {
      if (from === 'now' && !live) {
        return finish(reply, journal.name, Buffer.alloc(0), offset, { nowRead: true });
      }
      // History that only the store holds streams out whole, fragment by fragment, as it decompresses.
      const persisted = json ? undefined : streams.reads.persistedAt(journal, offset);
      if (persisted) {
        // Verified before the headers go out, so a corrupt fragment answers with its error code.
        const body = await broker.lake.read(persisted, offset);
        broker.lake.historyRead(persisted.end - offset);
        if (live) reply.header(H.cursor, nextCursor(cursor));
        const upToDate = persisted.end >= journal.head;
        reply.header('content-type', journal.spec.contentType).header(H.nextOffset, formatOffset(persisted.end));
        reply.header('content-length', String(persisted.end - offset));
        if (upToDate) reply.header(H.upToDate, 'true');
        return reply.code(200).send(body);
      }
      let data = await streams.reads.readChunk(journal, offset, broker.config.maxReadSize);
      if (live === 'long-poll' && data.length === 0) {
        const gone = new AbortController();
        const onClose = () => gone.abort();
        reply.raw.once('close', onClose);
        const woke = !streams.state(name).closed && (await broker.waitForData(journal, offset, gone.signal));
        // Every response closes; aborting after the wait would build an AbortError per long-poll for nothing.
        reply.raw.off('close', onClose);
        if (woke) data = await streams.reads.readChunk(journal, offset, broker.config.maxReadSize);
        if (data.length === 0) {
          reply.header(H.cursor, nextCursor(cursor)).header(H.nextOffset, formatOffset(offset)).header(H.upToDate, 'true');
          if (streams.state(name).closed) reply.header(H.closed, 'true');
          return reply.code(204).send();
        }
      }
      if (live) reply.header(H.cursor, nextCursor(cursor));
      const next = offset + data.length;
      return finish(reply, journal.name, data, next, { start: offsets[0] ?? '-1', ifNoneMatch: header(req.headers['if-none-match']) });
    } finally {
      broker.metrics.readers.dec({ mode });
    }

    function finish(
      r: FastifyReply,
      journalName: string,
      data: Buffer,
      next: number,
      o: { nowRead?: boolean; start?: string; ifNoneMatch?: string },
    ) {
      const upToDate = next >= journal.head;
      const closed = upToDate && !!streams.state(journalName).closed;
      r.header('content-type', journal.spec.contentType).header(H.nextOffset, formatOffset(next));
      if (upToDate) r.header(H.upToDate, 'true');
      if (closed) r.header(H.closed, 'true');
      if (o.nowRead) {
        r.header('cache-control', 'no-store');
      } else {
        const etag = `"${Buffer.from(journalName).toString('base64')}:${o.start}:${formatOffset(next)}${closed ? ':c' : ''}"`;
        r.header('etag', etag);
        if (o.ifNoneMatch === etag) return r.code(304).send();
      }
      return r.code(200).send(json ? jsonArrayOf(data) : data);
    }
  }

  function head(name: string, reply: FastifyReply) {
    const journal = streams.visible(name, false);
    const st = streams.state(name);
    reply
      .header('content-type', journal.spec.contentType)
      .header(H.nextOffset, formatOffset(journal.head))
      .header('cache-control', 'no-store')
      .header('etag', `"${Buffer.from(name).toString('base64')}:-1:${formatOffset(journal.head)}${st.closed ? ':c' : ''}"`);
    if (st.closed) reply.header(H.closed, 'true');
    if (st.ttlSeconds !== undefined) reply.header(H.ttl, String(st.ttlSeconds));
    if (st.expiresAt !== undefined) reply.header(H.expiresAt, st.expiresAt);
    return reply.code(200).send();
  }
}

function journalNameOf(req: FastifyRequest): string {
  const path = req.url.split('?')[0]!.slice(STREAM_PREFIX.length);
  let name: string;
  try {
    name = decodeURIComponent(path);
  } catch {
    throw new InletError('INVALID_JOURNAL_NAME', `journal name ${JSON.stringify(path.slice(0, 80))} is not valid percent-encoding`);
  }
  return validateJournalName(name);
}

/** `Stream-Forked-From` names the source by its path, `/v1/stream/<name>`, or by name. */
function sourceName(value: string): string {
  let v = value.trim();
  try {
    v = new URL(v).pathname;
  } catch {
    // Not an absolute URL: a path or a bare name.
  }
  if (v.startsWith(STREAM_PREFIX)) v = v.slice(STREAM_PREFIX.length);
  return validateJournalName(decodeURIComponent(v));
}

function encodePath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function bodyOf(req: FastifyRequest): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

function producerOf(req: FastifyRequest): Producer | undefined {
  const id = header(req.headers[H.producerId]);
  const epoch = header(req.headers[H.producerEpoch]);
  const seq = header(req.headers[H.producerSeq]);
  if (id === undefined && epoch === undefined && seq === undefined) return undefined;
  if (id === undefined || epoch === undefined || seq === undefined) {
    throw new InletError('BAD_REQUEST', 'Producer-Id, Producer-Epoch and Producer-Seq must be given together');
  }
  if (id === '') throw new InletError('BAD_REQUEST', 'Producer-Id must not be empty');
  for (const [field, v] of [['Producer-Epoch', epoch], ['Producer-Seq', seq]] as const) {
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
      throw new InletError('BAD_REQUEST', `${field} must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
  }
  return { id, epoch: Number(epoch), seq: Number(seq) };
}
