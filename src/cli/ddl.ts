import type { BrokerClient } from '../client/broker-client.js';
import { InletError } from '../errors.js';
import type { Projection } from '../protocol/collections.js';

/**
 * A `CREATE EXTERNAL TABLE` for the journals under a name prefix, for Athena (Hive DDL) or
 * Spark SQL. Partition columns are the `key=value` segments of the journal names after the
 * prefix, then those of the path postfix template. When the prefix names a collection with
 * projections, its data columns are those projections, typed as the catalog inferred them from
 * the schema; otherwise they are inferred from a sample of the first journal's documents.
 */
export async function ddl(client: BrokerClient, prefix: string, dialect: 'athena' | 'spark', location?: string, table?: string): Promise<string> {
  const base = prefix.replace(/\/+$/, '');
  const journals = (await client.listJournals()).filter((j) => j.spec.name === base || j.spec.name.startsWith(`${base}/`));
  if (journals.length === 0) throw new InletError('JOURNAL_NOT_FOUND', `no journal is named ${base} or below it`);
  const first = journals[0]!.spec;
  const partitions = [
    ...first.name.slice(base.length).split('/').filter((s) => s.includes('=')).map((s) => s.split('=')[0]!),
    ...first.fragment.pathPostfixTemplate.split('/').filter((s) => s.includes('=')).map((s) => s.split('=')[0]!),
  ];
  const collection = (await client.listCollections()).find((c) => c.name === base);
  const columns = new Map<string, HiveType>();
  for (const [field, p] of Object.entries(collection?.projections ?? {})) if (!p.partition) columns.set(field, hiveType(p));
  for (const j of columns.size > 0 ? [] : journals) {
    if (j.writeHead === 0) continue;
    const res = await client.readFrom(j.spec.name, 0, false);
    let sample = '';
    for await (const data of res.body) {
      sample += data.toString('utf8');
      if (sample.length > 256 * 1024) break;
    }
    for (const line of sample.split('\n').slice(0, 200)) {
      if (!line.trim()) continue;
      try {
        const doc = JSON.parse(line) as unknown;
        if (doc && typeof doc === 'object' && !Array.isArray(doc)) merge(columns, doc as Record<string, unknown>);
      } catch {
        // Not JSON: the column list stays as inferred so far.
      }
    }
    if (columns.size > 0) break;
  }
  for (const p of partitions) columns.delete(p);
  if (columns.size === 0) columns.set('_raw', 'string');
  const name = table ?? (base.split('/').pop() ?? 'journal').replace(/[^A-Za-z0-9_]/g, '_');
  const where = location ?? `${first.fragment.stores[0]!.split('?')[0]!.replace(/\/?$/, '/')}${base}/`;
  const q = (s: string) => `\`${s}\``;
  const cols = [...columns].map(([k, t]) => `  ${q(k)} ${render(t)}`).join(',\n');
  if (dialect === 'spark') {
    return (
      `CREATE TABLE IF NOT EXISTS ${q(name)} (\n${cols}${partitions.map((p) => `,\n  ${q(p)} string`).join('')}\n)\n` +
      `USING json\nPARTITIONED BY (${partitions.map(q).join(', ')})\nLOCATION '${where}';\n` +
      `MSCK REPAIR TABLE ${q(name)};  -- pick up partitions; run again as new ones appear\n`
    );
  }
  return (
    `CREATE EXTERNAL TABLE IF NOT EXISTS ${q(name)} (\n${cols}\n)\n` +
    `PARTITIONED BY (${partitions.map((p) => `${q(p)} string`).join(', ')})\n` +
    `ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\n` +
    `WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')\n` +
    `LOCATION '${where}';\n` +
    `MSCK REPAIR TABLE ${q(name)};  -- pick up partitions; run again as new ones appear\n`
  );
}

/** The column type of a projection: one scalar type (nullable or not) maps to its Hive type, anything else is a string. */
function hiveType(p: Projection): HiveType {
  const types = (p.inferred.types ?? []).filter((t) => t !== 'null');
  if (types.length === 1 && types[0] === 'integer') return 'bigint';
  if (types.length === 1 && types[0] === 'boolean') return 'boolean';
  if (types.length > 0 && types.every((t) => t === 'integer' || t === 'number')) return 'double';
  return 'string';
}

type HiveType = 'string' | 'bigint' | 'double' | 'boolean' | { struct: Map<string, HiveType> } | { array: HiveType };

function typeOf(v: unknown): HiveType {
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'bigint' : 'double';
  if (Array.isArray(v)) return { array: v.length > 0 ? typeOf(v[0]) : 'string' };
  if (v && typeof v === 'object') {
    const m = new Map<string, HiveType>();
    merge(m, v as Record<string, unknown>);
    return { struct: m };
  }
  return 'string';
}

function merge(into: Map<string, HiveType>, doc: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(doc)) mergeType(into, k, v === null ? undefined : typeOf(v));
}

/** Widens what is known of column `k` with one more observed type (null adds nothing but the column). */
function mergeType(into: Map<string, HiveType>, k: string, t: HiveType | undefined): void {
  const had = into.get(k);
  if (had === undefined) into.set(k, t ?? 'string');
  else if (t === undefined) return;
  else if (had === 'bigint' && t === 'double') into.set(k, 'double');
  else if (typeof had === 'object' && 'struct' in had && typeof t === 'object' && 'struct' in t) {
    for (const [k2, t2] of t.struct) mergeType(had.struct, k2, t2);
  }
}

function render(t: HiveType): string {
  if (typeof t === 'string') return t;
  if ('array' in t) return `array<${render(t.array)}>`;
  return `struct<${[...t.struct].map(([k, v]) => `\`${k}\`:${render(v)}`).join(',')}>`;
}
