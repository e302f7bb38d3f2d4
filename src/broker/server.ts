import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { InletError } from '../errors.js';
import { formatOffset } from '../protocol/offsets.js';
import { Health } from '../protocol/journals.js';
import { accessControl } from './access/index.js';
import type { Broker } from './broker.js';
import { limitRequests, timeoutOptions } from './request-limits.js';
import { fragmentRoutes } from './routes/fragments.js';
import { journalRoutes } from './routes/journals.js';
import { streamRoutes } from './routes/stream.js';

/** The broker's HTTP server: the Durable Streams protocol, `/v1/journals`, health and metrics. */
export function buildServer(broker: Broker, log: Logger): FastifyInstance {
  const app: FastifyInstance = Fastify({
    loggerInstance: log as unknown as FastifyBaseLogger,
    // Per-request log lines would cost more than an append; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: broker.config.maxAppendSize,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ...timeoutOptions(broker.config),
    routerOptions: { ignoreDuplicateSlashes: false, maxParamLength: 1024 },
  });

  limitRequests(app, broker.config);

  // Bodies arrive whole as Buffers, whatever their type: appends are bytes, never parsed here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', (_req, reply, done) => {
    reply.headers({ 'x-content-type-options': 'nosniff', 'cross-origin-resource-policy': 'cross-origin' });
    done();
  });
  accessControl(app, broker.config);

  app.setErrorHandler((err: FastifyError | InletError, req, reply) => {
    const e = toInletError(err, req.routeOptions.bodyLimit ?? broker.config.maxAppendSize, req.url.startsWith('/ingest') ? '--max-ingest-size' : '--max-append-size');
    if (e.status >= 500) req.log.error({ err, url: req.url }, e.message);
    if (req.method === 'POST') broker.metrics.appendErrors.inc({ code: e.code });
    const d = e.details ?? {};
    if (e.code === 'STREAM_CLOSED') reply.header('stream-closed', 'true');
    if (typeof d.writeHead === 'number') reply.header('stream-next-offset', formatOffset(d.writeHead));
    if (typeof d.currentEpoch === 'number') reply.header('producer-epoch', String(d.currentEpoch));
    if (typeof d.expectedSeq === 'number') reply.header('producer-expected-seq', String(d.expectedSeq));
    if (typeof d.receivedSeq === 'number') reply.header('producer-received-seq', String(d.receivedSeq));
    if (e.code === 'UNAUTHORIZED') reply.header('www-authenticate', 'Bearer');
    if (e.code === 'SHUTTING_DOWN' || e.code === 'STORAGE_FULL' || e.code === 'OVERLOADED') reply.header('retry-after', '1');
    return reply.code(e.status).type('application/json').send(JSON.stringify(e.toJSON()));
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new InletError('NOT_FOUND', `no route for ${req.method} ${req.url.split('?')[0]}`);
    return reply.code(404).type('application/json').send(JSON.stringify(e.toJSON()));
  });

  app.get('/healthz', { schema: { response: { 200: Health } } }, async (): Promise<Health> => ({
    status: 'ok',
    journals: broker.registry.list().length,
    failedJournals: [...broker.registry.failures.keys()],
  }));
  app.get('/metrics', async (_req, reply) => {
    reply.type(broker.metrics.registry.contentType);
    return broker.metrics.registry.metrics();
  });
  streamRoutes(app, broker);
  journalRoutes(app, broker);
  fragmentRoutes(app, broker);
  return app;
}

/** Fastify's own errors (body too large, bad content) become InletErrors with stable codes; a 413 names the route's limit and its flag. */
function toInletError(err: FastifyError | InletError, bodyLimit: number, limitFlag: string): InletError {
  if (err instanceof InletError) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new InletError('PAYLOAD_TOO_LARGE', `the request body exceeds the limit of ${bodyLimit} bytes (${limitFlag})`, { details: { limit: bodyLimit } });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new InletError('BAD_REQUEST', err.message);
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return new InletError('BAD_REQUEST', err.message);
  return new InletError('INTERNAL', err.message, { cause: err });
}
