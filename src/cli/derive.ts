import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { Registry } from 'prom-client';
import { loadCatalog } from '../catalog/load.js';
import { Appender } from '../client/appender.js';
import { registerDerivationMetrics } from '../derive/metrics.js';
import { DerivationRuntime, type DerivationStatus } from '../derive/runtime.js';
import { buildModules } from '../derive/typescript.js';
import { InletError } from '../errors.js';
import { brokerClient, intFlag } from './args.js';
import type { Parsed } from './command.js';

/**
 * `inlet runtime`: runs every derivation of a catalog in this process against a (remote)
 * broker, over its HTTP client. `--port` serves `GET /v1/derivations` and `/metrics`.
 * `--settle` stops once every derivation has caught up with its sources (exit 1 if one failed).
 */
export async function runtime({ values }: Parsed): Promise<void> {
  const catalogPath = values.catalog as string | undefined;
  if (!catalogPath) throw new InletError('BAD_REQUEST', '--catalog FILE is required');
  const dataDir = resolve((values['data-dir'] as string | undefined) ?? './data');
  const port = intFlag(values.port as string | undefined, '--port');
  const txnMs = intFlag(values['txn-ms'] as string | undefined, '--txn-ms') ?? 1000;
  const catalog = await loadCatalog(catalogPath);
  const client = brokerClient(values);
  const module = await buildModules(catalog, { dir: join(dataDir, 'modules') });
  const rt = await DerivationRuntime.start({ catalog, client, writer: new Appender(client), dataDir, maxTxnMs: txnMs, stallMs: Math.min(20, txnMs), ...(module ? { module } : {}) });
  if (values.settle) {
    try {
      await rt.settled();
    } finally {
      await rt.stop();
    }
    return;
  }
  const registry = new Registry();
  registerDerivationMetrics(registry, () => rt.refreshStatus());
  let server: ReturnType<typeof createServer> | undefined;
  if (port !== undefined) {
    server = createServer((req, res) => {
      void (async () => {
        if (req.method === 'GET' && req.url === '/v1/derivations') {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ derivations: await rt.refreshStatus() }));
        } else if (req.method === 'GET' && req.url === '/metrics') {
          res.setHeader('content-type', registry.contentType);
          res.end(await registry.metrics());
        } else {
          res.statusCode = 404;
          res.end();
        }
      })().catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
    await new Promise<void>((ok) => server!.listen(port, '127.0.0.1', ok));
    const addr = server.address();
    process.stdout.write(`listening on http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : port}\n`);
  }
  process.stdout.write(`running ${rt.status().length} derivations\n`);
  await new Promise<void>((ok) => {
    process.once('SIGTERM', ok);
    process.once('SIGINT', ok);
  });
  server?.close();
  await rt.stop();
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
