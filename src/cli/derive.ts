import { resolve } from 'node:path';
import fastify from 'fastify';
import { Registry } from 'prom-client';
import { loadCatalog } from '../catalog/load.js';
import type { DerivationStatus } from '../derive/runtime.js';
import { InletError } from '../errors.js';
import { parseSize } from '../units.js';
import { brokerClient, intFlag } from './args.js';
import type { Parsed } from './command.js';
import { createLogger } from './log.js';
import { ServedConsumers } from './serve-consumers.js';

/**
 * `inlet runtime`: runs every derivation and materialization of a catalog in this process
 * against a (remote) broker, over its HTTP API only. `--port` serves `GET /v1/derivations`,
 * `GET /v1/materializations` and `/metrics`. `--settle` stops once every one has committed what
 * its sources held (exit 1 if one failed). A materialization that fails for good (another
 * process took it over, an incompatible table) ends the process with exit 1; a derivation that
 * fails stops alone, with its error in its status.
 */
export async function runtime({ values }: Parsed): Promise<void> {
  const catalogPath = values.catalog as string | undefined;
  if (!catalogPath) throw new InletError('BAD_REQUEST', '--catalog FILE is required');
  const dataDir = resolve((values['data-dir'] as string | undefined) ?? './data');
  const port = intFlag(values.port as string | undefined, '--port');
  const txnMs = intFlag(values['txn-ms'] as string | undefined, '--txn-ms') ?? 1000;
  if (!(txnMs > 0)) throw new InletError('BAD_REQUEST', '--txn-ms: must be a number of milliseconds above 0');
  const snapshotFlag = values['snapshot-bytes'] as string | undefined;
  const snapshotBytes = snapshotFlag === undefined ? undefined : parseSize(snapshotFlag);
  if (snapshotBytes === null || (snapshotBytes !== undefined && !(snapshotBytes > 0))) {
    throw new InletError('BAD_REQUEST', `--snapshot-bytes: must be a size above 0 (4096, 64MiB), got "${snapshotFlag}"`);
  }
  const catalog = await loadCatalog(catalogPath);
  const client = brokerClient(values);
  const registry = new Registry();
  const consumers = new ServedConsumers(catalog, dataDir, { maxTxnMs: txnMs, stallMs: Math.min(20, txnMs) }, snapshotBytes !== undefined ? { minBytes: snapshotBytes } : {});
  const app = port === undefined ? undefined : fastify();
  if (app) {
    consumers.routes(app, registry);
    app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  }
  await consumers.start(client.url, { registry, log: createLogger(process.env.INLET_LOG_LEVEL ?? 'warn'), ...(typeof values.token === 'string' ? { token: values.token } : {}) });
  try {
    const failed = consumers.failedForGood();
    if (values.settle) {
      const err = await Promise.race([consumers.settled().then(() => undefined), failed]);
      if (err) throw err;
      return;
    }
    if (app) {
      await app.listen({ port: port!, host: '127.0.0.1' });
      const addr = app.server.address();
      process.stdout.write(`listening on http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : port}\n`);
    }
    const { derivations, materializations } = consumers.counts;
    process.stdout.write(`running ${derivations} derivations and ${materializations} materializations\n`);
    const stopped = new Promise<undefined>((ok) => {
      process.once('SIGTERM', () => ok(undefined));
      process.once('SIGINT', () => ok(undefined));
    });
    const err = await Promise.race([stopped, failed]);
    if (err) throw err;
  } finally {
    await app?.close();
    await consumers.stop();
  }
}

/** `inlet derivations status`: the derivations a broker (or runtime) runs, one line each. */
export async function status({ values }: Parsed): Promise<void> {
  const client = brokerClient(values);
  const res = await fetch(`${client.url}/v1/derivations`);
  if (!res.ok) throw new InletError('IO_ERROR', `${client.url}/v1/derivations: HTTP ${res.status}`);
  const { derivations } = (await res.json()) as { derivations: DerivationStatus[] };
  if (values.json) {
    process.stdout.write(JSON.stringify(derivations, null, 2) + '\n');
    return;
  }
  if (derivations.length === 0) process.stdout.write('no derivations\n');
  for (const d of derivations) {
    const lag = Object.entries(d.sources)
      .map(([s, l]) => `${s}: ${l.lagBytes} B, ${l.lagSeconds.toFixed(1)} s behind`)
      .join('; ');
    process.stdout.write(`${d.name}  ${d.state}  read ${d.read}  published ${d.published}  ${lag}${d.lastError ? `\n  error: ${d.lastError}` : ''}\n`);
  }
}
