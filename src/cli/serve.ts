import { loadConfig, configSchema, envName, flagName, DURATION, SIZE, type BrokerConfig } from '../broker/config.js';
import { requestGuard } from '../broker/access/index.js';
import { startBroker, type RunningBroker } from '../broker/daemon.js';
import { collectionsPlugin, openCollections, type ServedCollections } from '../collections/ingest-plugin.js';
import { loadCatalog } from '../catalog/load.js';
import type { Catalog } from '../catalog/types.js';
import { InletError } from '../errors.js';
import type { Flag, Flags, Parsed } from './command.js';
import { suggest } from './command.js';
import { createLogger } from './log.js';
import { ServedConsumers } from './serve-consumers.js';
import type { Registry } from 'prom-client';

/** INLET_* variables read by something other than the broker's settings. */
const OTHER_ENV = ['INLET_CONFIG', 'INLET_BROKER', 'INLET_CRASH_AT'];

/** The flags of `inlet serve`, one per setting of the config schema, and --config. */
export function serveFlags(): Flags {
  const flags: Record<string, Flag> = {};
  for (const [key, p] of Object.entries(configSchema.properties) as [string, SchemaProperty][]) {
    flags[flagName(key).slice(2)] = {
      type: 'string',
      value: placeholder(key, p),
      description: `${p.title ?? p.description ?? key}; env ${envName(key)}`,
      ...(p.default !== undefined ? { default: String(p.default) } : {}),
    };
  }
  flags.config = { type: 'string', value: 'FILE', description: 'a YAML file of these settings (camelCase keys: dataDir, port, …); flags win over env, env over the file; env INLET_CONFIG' };
  return flags;
}

interface SchemaProperty {
  type?: string;
  enum?: readonly string[];
  pattern?: string;
  default?: unknown;
  title?: string;
  description?: string;
}

function placeholder(key: string, p: SchemaProperty): string {
  if (p.enum) return p.enum.join('|');
  if (p.type === 'integer') return 'N';
  if (p.pattern === SIZE.pattern) return 'SIZE';
  if (p.pattern === DURATION.pattern) return 'DURATION';
  return key.replace(/^.*(?=[A-Z])/, '').toUpperCase();
}

export interface ServeOptions {
  /** Called once the broker listens, to print what it serves. */
  announce?: (running: RunningBroker, config: BrokerConfig, served: ServedCollections | undefined, consumers: ServedConsumers | undefined) => void;
  /** Runs after the broker has stopped, before the process exits (develop stops its databases). */
  onStopped?: () => Promise<void>;
  /** The catalog of --catalog, when the caller has loaded it already. */
  catalog?: Catalog;
}

/**
 * `inlet serve`: runs until SIGTERM or SIGINT, then drains in-flight appends and exits 0.
 * A start-up failure (data dir locked or unwritable, port busy, bad catalog, unusable store)
 * throws an InletError whose message names what is wrong and what to do.
 */
export async function serve(args: Parsed, opts: ServeOptions = {}): Promise<void> {
  const { announce, onStopped } = opts;
  const flags = Object.fromEntries(Object.entries(args.values).filter(([k]) => k !== 'help').map(([k, v]) => [k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), v]));
  warnUnknownEnv();
  const config = loadConfig(flags);
  const log = createLogger(config.logLevel);
  let running: RunningBroker;
  let served: ServedCollections | undefined;
  // Loaded once, before the port is taken: a bad catalog is one clear error and nothing started.
  const catalog = opts.catalog ?? (config.catalog ? await loadCatalog(config.catalog) : undefined);
  const consumers = catalog ? new ServedConsumers(catalog, config.dataDir) : undefined;
  let registry: Registry | undefined;
  try {
    running = await startBroker(config, log, async (app, broker) => {
      if (catalog) served = await openCollections(catalog, config.catalog!, config.dataDir, broker.writer, log);
      registry = broker.metrics.registry;
      consumers?.routes(app, registry);
      await app.register(collectionsPlugin, { broker: broker.writer, served, limits: { maxBodySize: config.maxIngestSize, maxDepth: config.maxJsonDepth }, guard: requestGuard });
    });
  } catch (err) {
    throw startupError(err, config);
  }
  log.info({ url: running.url, dataDir: config.dataDir, store: config.store }, 'broker started');
  try {
    // The consumers run in the broker's process: its stores are theirs to read history from directly.
    await consumers?.start(running.url, { registry: registry!, log, stores: config.stores, ...(config.authKeys ? { authKeys: config.authKeys } : {}) });
  } catch (err) {
    await running.stop();
    throw err;
  }
  announce?.(running, config, served, consumers);
  // One plain line on stdout, for scripts and tests that start a broker on port 0.
  process.stdout.write(`listening on ${running.url}\n`);
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn('second signal: exiting without draining');
      process.exit(1);
    }
    log.info({ signal: sig }, 'draining in-flight appends');
    Promise.resolve(consumers?.stop())
      .then(() => running.stop())
      .then(() => onStopped?.())
      .then(
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

/** Warns once per INLET_* variable no setting reads, naming the closest one that does. */
function warnUnknownEnv(): void {
  const known = [...Object.keys(configSchema.properties).map(envName), ...OTHER_ENV];
  for (const name of Object.keys(process.env)) {
    if (!name.startsWith('INLET_') || known.includes(name)) continue;
    process.stderr.write(`inlet: warning: ${name} is not a setting, ignored${suggest(name, known)}\n`);
  }
}

/** Rephrases an error of the broker's start as one line saying what to do. */
function startupError(err: unknown, config: BrokerConfig): unknown {
  if (err instanceof InletError) return err;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; path?: string };
  const why = (text: string) => new InletError('IO_ERROR', text, { cause: err });
  switch (e.code) {
    case 'EADDRINUSE':
      return why(`port ${config.port} on ${config.host} is in use by another process; stop it or pick another --port`);
    case 'EADDRNOTAVAIL':
      return why(`cannot listen on ${config.host}: no such local address; give --host an address of this machine`);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      if (e.syscall === 'listen') return why(`not allowed to listen on port ${config.port}; pick a port above 1023`);
      return why(`cannot write ${e.path ?? config.dataDir} (${e.code}); give --data-dir a directory this user can write`);
    case 'ENOSPC':
      return why(`the disk of ${config.dataDir} is full; free space or give another --data-dir`);
    default:
      return err;
  }
}
