import { serve } from './serve.js';
import { UsageError } from './args.js';

export const DEVELOP_HELP = `Usage: inlet develop --source CATALOG [--port 8080] [serve flags]

Runs a broker for development on the embedded default store (./data, lake in ./data/lake),
with the catalog's collections: POST /ingest writes them, the stream API reads them. Fragments
reach the lake every minute (--flush-interval) and when it stops (Ctrl-C). Takes every flag of
inlet serve.
`;

/** `inlet develop`: `inlet serve --catalog` with development defaults, printing what it serves. */
export async function develop(args: string[]): Promise<void> {
  const rest = [...args];
  const at = rest.findIndex((a) => a === '--source' || a.startsWith('--source='));
  if (at < 0) throw new UsageError('inlet develop: --source CATALOG is required (e.g. --source catalog/shipments.flow.yaml)');
  const source = rest[at]!.includes('=') ? rest[at]!.slice('--source='.length) : rest[at + 1];
  if (!source || source.startsWith('--')) throw new UsageError('--source: needs a catalog file');
  rest.splice(at, rest[at]!.includes('=') ? 1 : 2);
  const has = (flag: string) => rest.some((a) => a === flag || a.startsWith(`${flag}=`));
  if (!has('--flush-interval')) rest.push('--flush-interval', '1m');
  if (!has('--log-level')) rest.push('--log-level', 'warn');
  await serve(['--catalog', source, ...rest], (running, config, served) => {
    const out = [`inlet develop: catalog ${source}, broker ${running.url}`];
    for (const c of served?.collections.values() ?? []) {
      const parts = c.spec.partitionFields.length ? `, partitioned by ${c.spec.partitionFields.join(', ')}` : '';
      out.push(`  collection ${c.spec.name}: key [${c.spec.key.join(', ')}]${parts}`);
    }
    out.push(
      `  POST ${running.url}/ingest                 {"<collection>": [documents…]}  (or: inlet ingest <collection> < docs.ndjson)`,
      `  GET  ${running.url}/v1/collections`,
      `  GET  ${running.url}/v1/stream/<journal>    the Durable Streams API  (or: inlet read --collection <name>)`,
      `  lake ${config.store}  (fragments flush every ${config.flushInterval} and at Ctrl-C)`,
    );
    process.stdout.write(out.join('\n') + '\n');
  });
}
