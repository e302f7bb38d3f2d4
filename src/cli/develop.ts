import { loadConfig } from '../broker/config.js';
import { loadCatalog } from '../catalog/load.js';
import { startDevDatabases } from '../develop/databases.js';
import { UsageError } from './args.js';
import { reportProgress } from './consumer-progress.js';
import type { Flags, Parsed } from './command.js';
import { serve, serveFlags } from './serve.js';

/** The flags of `inlet develop`: --source and every flag of `inlet serve`. */
export function developFlags(): Flags {
  return { source: { type: 'string', value: 'CATALOG', description: 'the *.flow.yaml catalog to serve (required)' }, ...serveFlags() };
}

/**
 * `inlet develop`: `inlet serve --catalog` with development defaults, printing what it serves.
 * PostgreSQL endpoints on this machine with nothing listening get a server of their own (data
 * under the data dir, kept), stopped when develop stops.
 */
export async function develop(args: Parsed): Promise<void> {
  const { source, ...rest } = args.values;
  if (typeof source !== 'string') throw new UsageError('inlet develop: --source CATALOG is required (e.g. --source catalog/shipments.flow.yaml)');
  const values = { flushInterval: '1m', logLevel: 'warn', ...rest, catalog: source };
  const flags = Object.fromEntries(Object.entries(values).filter(([k]) => k !== 'help').map(([k, v]) => [k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), v]));
  const catalog = await loadCatalog(source);
  const databases = await startDevDatabases(catalog, loadConfig(flags).dataDir);
  const started = serve({ values, positionals: [] }, {
    catalog,
    announce: (running, config, served, consumers) => {
      const out = [`inlet develop: catalog ${String(source)}, broker ${running.url}`, ...databases.lines];
      for (const c of served?.collections.values() ?? []) {
        const parts = c.spec.partitionFields.length ? `, partitioned by ${c.spec.partitionFields.join(', ')}` : '';
        out.push(`  collection ${c.spec.name}: key [${c.spec.key.join(', ')}]${parts}`);
      }
      for (const c of catalog.collections.values()) {
        if (!c.derivation) continue;
        const from = c.derivation.transforms.map((t) => `${t.reads.name} (${t.name})`).join(', ');
        out.push(`  derivation ${c.name}: from ${from}`);
      }
      for (const m of catalog.materializations) out.push(`  materialization ${m.name}: ${m.reads.name} kept as table ${m.table}${m.deltaUpdates ? ' (delta updates)' : ''}`);
      out.push(
        `  POST ${running.url}/ingest                 {"<collection>": [documents…]}  (or: inlet ingest <collection> < docs.ndjson)`,
        `  GET  ${running.url}/v1/collections`,
        `  GET  ${running.url}/v1/stream/<journal>    the Durable Streams API  (or: inlet read --collection <name>)`,
        `  lake ${config.store}  (fragments flush every ${config.flushInterval} and at Ctrl-C)`,
      );
      process.stdout.write(out.join('\n') + '\n');
      // Derivations over history and new tables catch up first: say how far they are.
      if (consumers) reportProgress(() => consumers.progress(), { tty: process.stderr.isTTY === true, write: (text) => process.stderr.write(text) });
    },
    onStopped: () => databases.stop(),
  });
  await started.catch(async (err: unknown) => {
    await databases.stop();
    throw err;
  });
}
