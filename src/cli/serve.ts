import { loadConfig, configSchema, type BrokerConfig } from '../broker/config.js';
import { startBroker, type RunningBroker } from '../broker/daemon.js';
import { requestGuard } from '../broker/access/index.js';
import { collectionsPlugin, openCollections, type ServedCollections } from '../collections/ingest-plugin.js';
import { parse } from './args.js';
import { createLogger } from './log.js';

export const SERVE_HELP = `Usage: inlet serve [flags]

Runs the broker. Every flag also reads from INLET_<FLAG> (e.g. INLET_DATA_DIR) and from a
YAML file given by --config; flags win over env, env over the file.

Flags:
  --port N               TCP port (default 8080; 0 picks a free one)
  --host ADDR            address to listen on (default 127.0.0.1)
  --data-dir DIR         local spools and journal specs (default ./data)
  --store URL            fragment store, file:///… or s3://bucket/prefix/?endpoint=… (default file://<data-dir>/lake/)
  --fragment-length SIZE default fragment length of new journals (default 128MiB)
  --flush-interval DUR   default flush interval of new journals (default 1h)
  --compression CODEC    gzip, zstd or none (default gzip)
  --max-append-size SIZE largest append accepted (default 64MiB; larger gets 413)
  --max-read-size SIZE   bytes per catch-up response (default 4MiB)
  --long-poll-timeout DUR how long live reads wait before answering 204 (default 20s)
  --catalog FILE         a *.flow.yaml catalog: POST /ingest writes its collections
  --auth-keys KEYS       base64 HMAC keys (whitespace/comma separated; the first signs, all verify):
                         every request but /healthz then needs a bearer token (inlet token create)
  --cors-origins LIST    origins whose web pages may write, comma-separated ('*': any; default none)
  --allowed-hosts LIST   Host names the broker answers to besides its listen host and loopback
  --log-level LEVEL      fatal, error, warn, info, debug, trace or silent (default info)
  --config FILE          YAML file of the settings above (camelCase keys: dataDir, port, …)
`;

/** `inlet serve`: runs until SIGTERM or SIGINT, then drains in-flight appends and exits 0. */
export async function serve(
  args: string[],
  announce?: (running: RunningBroker, config: BrokerConfig, served: ServedCollections | undefined) => void,
): Promise<void> {
  const options = Object.fromEntries(
    [...Object.keys(configSchema.properties), 'config'].map((k) => [k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), { type: 'string' as const }]),
  );
  const { values } = parse(args, options, false);
  const flags = Object.fromEntries(Object.entries(values).map(([k, v]) => [k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), v]));
  const config = loadConfig(flags);
  const log = createLogger(config.logLevel);
  let served: ServedCollections | undefined;
  const running = await startBroker(config, log, async (app, broker) => {
    if (config.catalog) served = await openCollections(config.catalog, config.dataDir, broker.writer, log);
    await app.register(collectionsPlugin, { broker: broker.writer, served, guard: requestGuard });
  });
  log.info({ url: running.url, dataDir: config.dataDir, store: config.store }, 'broker started');
  announce?.(running, config, served);
  // One plain line on stdout, for scripts and tests that start a broker on port 0.
  process.stdout.write(`listening on ${running.url}\n`);
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn('second signal: exiting without draining');
      process.exit(1);
    }
    log.info({ signal: sig }, 'draining in-flight appends');
    running.stop().then(
      () => {
        log.info('stopped cleanly');
        log.flush?.();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
