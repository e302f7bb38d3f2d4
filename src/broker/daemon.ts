import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Broker } from './broker.js';
import type { BrokerConfig } from './config.js';
import { DataDirLock } from './data-dir-lock.js';
import { buildServer } from './server.js';

export interface RunningBroker {
  readonly broker: Broker;
  readonly app: FastifyInstance;
  /** The URL the broker listens on, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Drains: refuses new requests (503), ends live reads, lets in-flight appends commit, closes files. */
  stop(): Promise<void>;
}

/** Adds routes to a broker's server before it listens (the collections plugin, say). */
export type Extension = (app: FastifyInstance, broker: Broker) => Promise<void>;

/**
 * Locks the data dir, opens it, lets `extend` add to the server, and serves HTTP on the
 * configured host and port. When any step fails, the steps before it are undone (the broker
 * closes, the lock is released) and the error propagates.
 */
export async function startBroker(config: BrokerConfig, log: Logger, extend?: Extension): Promise<RunningBroker> {
  const lock = await DataDirLock.acquire(config.dataDir);
  let broker: Broker | undefined;
  let app: FastifyInstance | undefined;
  try {
    broker = await Broker.open(config, log);
    app = buildServer(broker, log);
    await extend?.(app, broker);
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await app?.close().catch(() => undefined);
    await broker?.close().catch(() => undefined);
    await lock.release();
    throw err;
  }
  return running(broker, app, config, lock);
}

function running(broker: Broker, app: FastifyInstance, config: BrokerConfig, lock: DataDirLock): RunningBroker {
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  let stopping: Promise<void> | undefined;
  return {
    broker,
    app,
    url,
    stop: () =>
      (stopping ??= (async () => {
        broker.stopLiveReads();
        // Busy keep-alive connections turn idle as their requests finish; close them as they do.
        const sweeper = setInterval(() => app.server.closeIdleConnections(), 25);
        try {
          await app.close();
        } finally {
          clearInterval(sweeper);
        }
        await broker.close();
        await lock.release();
      })()),
  };
}
