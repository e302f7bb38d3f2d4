import { loadCatalog } from '../catalog/load.js';
import { InletError } from '../errors.js';
import type { MaterializationStatus } from '../materialize/runtime.js';
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
