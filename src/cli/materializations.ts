import { loadCatalog } from '../catalog/load.js';
import { Appender } from '../client/appender.js';
import { InletError } from '../errors.js';
import { MaterializationRuntime, type MaterializationStatus } from '../materialize/runtime.js';
import { createTableSql, tablePlan } from '../materialize/table.js';
import { brokerClient, UsageError } from './args.js';
import type { Parsed } from './command.js';
import { printTable } from './fragments.js';

function sourceOf(values: Parsed['values']): string {
  const source = values.source;
  if (typeof source !== 'string') throw new UsageError('--source CATALOG is required (e.g. --source catalog/views.flow.yaml)');
  return source;
}

/** `inlet materializations ddl --source FILE`: the SQL that creates each materialization's table, run nowhere. */
export async function ddl({ values }: Parsed): Promise<void> {
  const catalog = await loadCatalog(sourceOf(values));
  const out: string[] = [];
  for (const m of catalog.materializations) {
    const endpoint = catalog.endpoints.get(m.endpoint)!;
    const dialect = 'postgres' in endpoint ? 'postgres' : 'sqlite';
    out.push(`-- ${m.name}: ${m.reads.name} (${m.source})${m.deltaUpdates ? ', delta updates' : ''}`);
    out.push(...createTableSql(tablePlan(m, dialect)).map((s) => `${s};`), '');
  }
  if (out.length === 0) out.push('-- the catalog declares no materializations');
  process.stdout.write(out.join('\n') + '\n');
}

/**
 * `inlet materializations run --source FILE`: runs the catalog's materializations against a
 * broker until SIGINT/SIGTERM, or with --until-settled until they have committed what the
 * sources held at the start (exit 0), or failed for good (exit 1).
 */
export async function run({ values }: Parsed): Promise<void> {
  const catalog = await loadCatalog(sourceOf(values));
  const client = brokerClient(values);
  const maxTxnMs = values['max-txn-ms'] === undefined ? undefined : Number(values['max-txn-ms']);
  if (maxTxnMs !== undefined && !(maxTxnMs > 0)) throw new UsageError('--max-txn-ms: must be a number of milliseconds above 0');
  const runtime = await MaterializationRuntime.start({ catalog, client, writer: new Appender(client), ...(maxTxnMs ? { maxTxnMs } : {}) });
  const failed = runtime.failed().then((s) => new InletError('INTERNAL', `materialization ${s.name} failed: ${s.lastError ?? 'unknown error'}`));
  try {
    const done = values['until-settled'] === true ? runtime.settled() : new Promise<void>((resolve) => (process.once('SIGINT', resolve), process.once('SIGTERM', resolve)));
    const err = await Promise.race([done.then(() => undefined), failed]);
    if (err) throw err;
  } finally {
    await runtime.stop();
  }
}

/** `inlet materializations status`: each materialization of a serving process, from `GET /v1/materializations`. */
export async function status({ values }: Parsed): Promise<void> {
  const client = brokerClient(values);
  const res = await fetch(`${client.url}/v1/materializations`);
  if (res.status === 404) throw new InletError('NOT_FOUND', `${client.url} runs no materializations (serve it with --catalog)`);
  if (!res.ok) throw new InletError('INTERNAL', `${client.url}/v1/materializations: HTTP ${res.status} ${await res.text()}`);
  const { materializations } = (await res.json()) as { materializations: (MaterializationStatus & { lagBytes: number })[] };
  if (values.json === true) {
    process.stdout.write(JSON.stringify(materializations, null, 2) + '\n');
    return;
  }
  printTable([
    ['MATERIALIZATION', 'SOURCE', 'STATE', 'LAG', 'ROWS', 'LAST COMMIT', 'LAST ERROR'],
    ...materializations.map((m) => [m.name, m.source, m.state, `${m.lagBytes} B`, String(m.rowsWritten), m.lastCommit ?? '-', m.lastError ?? '-']),
  ]);
}
