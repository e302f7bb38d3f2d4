import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import { formatOffset } from '../../protocol/offsets.js';
import type { Journal } from '../../journal/journal.js';
import { mediaType } from '../../journal/spec.js';
import type { Broker } from '../broker.js';
import { jsonArrayOf } from '../content.js';
import { nextCursor } from '../cursor.js';

/**
 * Serves `live=sse`: each chunk of bytes is a `data` event followed by a `control` event
 * carrying the next offset, so a client can resume exactly. Binary journals are sent in
 * base64 (`Stream-SSE-Data-Encoding: base64`), JSON journals as JSON arrays.
 */
export async function handleSse(
  broker: Broker,
  journal: Journal,
  offset: number,
  cursor: string | undefined,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const type = mediaType(journal.spec.contentType);
  const json = type === 'application/json';
  const base64 = !(json || type.startsWith('text/') || type === 'application/x-ndjson' || type === 'application/ndjson');
  const headers: OutgoingHttpHeaders = {
    ...(reply.getHeaders() as OutgoingHttpHeaders),
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  };
  if (base64) headers['stream-sse-data-encoding'] = 'base64';
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, headers);
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  const write = async (text: string): Promise<void> => {
    if (!res.write(text)) await new Promise<void>((resolve) => {
      res.once('drain', resolve);
      gone.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  };

  broker.metrics.readers.inc({ mode: 'sse' });
  let pos = offset;
  try {
    while (!gone.signal.aborted && !broker.closing && !journal.deleted) {
      const data = await broker.streams.reads.readChunk(journal, pos, broker.config.maxReadSize);
      if (data.length > 0) {
        pos += data.length;
        const payload = base64 ? data.toString('base64') : json ? jsonArrayOf(data).toString('utf8') : data.toString('utf8');
        await write(`event: data\n${sseData(payload)}`);
      }
      const upToDate = pos >= journal.head;
      const closed = upToDate && !!broker.streams.state(journal.name).closed;
      const control = closed
        ? { streamNextOffset: formatOffset(pos), streamClosed: true }
        : { streamNextOffset: formatOffset(pos), streamCursor: nextCursor(cursor), ...(upToDate ? { upToDate: true } : {}) };
      await write(`event: control\n${sseData(JSON.stringify(control))}`);
      if (closed) break;
      if (upToDate) await broker.waitForData(journal, pos, gone.signal);
    }
  } catch (err) {
    req.log.warn({ err, journal: journal.name }, 'SSE read ended by an error');
  } finally {
    broker.metrics.readers.dec({ mode: 'sse' });
    res.end();
  }
}

/**
 * One `data:` line per payload line. Splitting on CR, LF and CRLF alike keeps a payload
 * from injecting its own event boundaries. No space after the colon: clients strip one.
 */
function sseData(payload: string): string {
  return payload.split(/\r\n|\r|\n/).map((line) => `data:${line}`).join('\n') + '\n\n';
}
