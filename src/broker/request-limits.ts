import type { FastifyInstance } from 'fastify';
import { Transform } from 'node:stream';
import { InletError } from '../errors.js';
import type { BrokerConfig } from './config.js';

/**
 * Bounds what clients can make the broker hold, whatever they send:
 *
 * - a request must arrive whole (headers and body) within `requestTimeout`, or it gets 408 and
 *   its connection closes (slow bodies used to be kept forever: 19,980 of them exhausted the
 *   file descriptors);
 * - at most `maxConnections` connections are open; past it new ones are closed at once;
 * - request bodies received and not yet answered total at most `appendBudget` bytes: a request
 *   that would go past it gets 503 OVERLOADED with Retry-After before its body is read (24
 *   concurrent 64 MiB appends used to take 2.1 GB). A body's bytes count from its first byte
 *   until its response is done. A single request larger than the whole budget is still let
 *   through alone, when nothing else is in flight, so that `maxAppendSize` stays the one limit
 *   on a request's size.
 */
export function limitRequests(app: FastifyInstance, config: BrokerConfig): void {
  app.server.maxConnections = config.maxConnections;
  let inFlight = 0;
  // A callback hook, not an async one: a promise and a microtask per request saved on the hot path.
  app.addHook('preParsing', (req, reply, payload, done) => {
    const declared = req.headers['content-length'];
    if (declared === undefined && req.headers['transfer-encoding'] === undefined) return done(null, payload);
    let held = 0;
    const take = (n: number): void => {
      if (inFlight > held && inFlight + n > config.appendBudget) {
        throw new InletError(
          'OVERLOADED',
          `the broker holds ${inFlight} bytes of requests in flight; ${n} more would pass its budget of ${config.appendBudget} (--append-budget); retry later`,
        );
      }
      inFlight += n;
      held += n;
    };
    reply.raw.once('close', () => {
      inFlight -= held;
      held = 0;
    });
    if (declared !== undefined) {
      try {
        take(Number(declared) || 0);
      } catch (err) {
        return done(err as Error);
      }
      return done(null, payload);
    }
    // A chunked body declares no length: count it as it arrives.
    done(
      null,
      payload.pipe(
        new Transform({
          transform(chunk: Buffer, _enc, next) {
            try {
              take(chunk.length);
              next(null, chunk);
            } catch (err) {
              next(err as Error);
            }
          },
        }),
      ),
    );
  });
}

/** Options of the HTTP server that bound how long a request may take to arrive. */
export function timeoutOptions(config: BrokerConfig): { requestTimeout: number; http: { headersTimeout: number; connectionsCheckingInterval: number } } {
  const ms = config.requestTimeoutMs;
  // Node checks timeouts on this interval (30 s by default), which would stretch a short timeout several times over.
  return { requestTimeout: ms, http: { headersTimeout: ms, connectionsCheckingInterval: Math.max(50, Math.min(5000, Math.floor(ms / 4))) } };
}
