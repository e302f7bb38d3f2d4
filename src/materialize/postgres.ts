import pg from 'pg';
import type { PostgresConfig } from '../catalog/types.js';
import { crashPoint } from '../crashpoints.js';
import { packKey } from '../doc/json.js';
import { InletError } from '../errors.js';
import { CHECKPOINTS_TABLE, type Driver, type Merge } from './driver.js';
import { addColumnSql, createTableSql, evolve, recordValue, type TablePlan } from './table.js';

/**
 * The PostgreSQL driver: one connection per materialization. A transaction is four statements
 * on it: the fenced checkpoint update, one load of the stored documents of the transaction's
 * keys (the keys passed as one JSON parameter and joined through `json_to_recordset`), one
 * `INSERT … SELECT FROM json_to_recordset($1) … ON CONFLICT … DO UPDATE` of every row, and COMMIT. Values travel only as
 * parameters; SQL text holds names only.
 */
export class PostgresDriver implements Driver {
  private client: pg.Client | undefined;
  private fence = 0;
  private readonly loadSql: string;
  private readonly writeSql: string;

  constructor(
    private readonly config: PostgresConfig,
    private readonly plan: TablePlan,
    private readonly materialization: string,
  ) {
    // Rows travel as one JSON array of objects {c0, c1, …}: V8 writes it natively, and
    // PostgreSQL reads it back into typed columns, far cheaper than an array parameter per column.
    const records = (cols: TablePlan['columns']) => `json_to_recordset($1::json) AS x(${cols.map((c, i) => `c${i} ${c.type}`).join(', ')})`;
    const doc = plan.columns.find((c) => c.field.location === '')!;
    const on = plan.keys.map((k, i) => `t.${k.sql} = x.c${i}`).join(' AND ');
    this.loadSql = `SELECT t.${doc.sql} AS doc FROM ${plan.sql} AS t JOIN ${records(plan.keys)} ON ${on}`;
    const names = plan.columns.map((c) => c.sql).join(', ');
    const insert = `INSERT INTO ${plan.sql} (${names}) SELECT ${plan.columns.map((_, i) => `c${i}`).join(', ')} FROM ${records(plan.columns)}`;
    const updates = plan.columns.filter((c) => !c.field.key).map((c) => `${c.sql} = EXCLUDED.${c.sql}`);
    this.writeSql = plan.deltaUpdates ? insert : `${insert} ON CONFLICT (${plan.keys.map((k) => k.sql).join(', ')}) DO UPDATE SET ${updates.join(', ')}`;
  }

  async open(): Promise<string | undefined> {
    const client = new pg.Client({
      host: this.config.host,
      port: this.config.port,
      user: this.config.user,
      ...(this.config.password !== undefined ? { password: this.config.password } : {}),
      database: this.config.dbname,
      connectionTimeoutMillis: 5000,
    });
    // A lost connection also fails the query in flight; this only keeps the event from crashing the process.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw unavailable(this.config, err);
    }
    this.client = client;
    try {
      await client.query('BEGIN');
      await client.query(`CREATE TABLE IF NOT EXISTS ${CHECKPOINTS_TABLE} (materialization TEXT PRIMARY KEY, fence BIGINT NOT NULL, checkpoint TEXT)`);
      // Serializes concurrent opens of one database's tables (two processes creating one table at once).
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [CHECKPOINTS_TABLE]);
      const existing = await client.query<{ name: string; type: string; nullable: string }>(
        `SELECT column_name AS name, data_type AS type, is_nullable AS nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`,
        [tableName(this.plan)],
      );
      if (existing.rowCount === 0) {
        for (const sql of createTableSql(this.plan)) await client.query(sql);
      } else {
        const add = evolve(this.plan, existing.rows.map((r) => ({ name: r.name, type: r.type, notNull: r.nullable === 'NO' })));
        for (const c of add) await client.query(addColumnSql(this.plan, c));
      }
      const fenced = await client.query<{ fence: string; checkpoint: string | null }>(
        `INSERT INTO ${CHECKPOINTS_TABLE} (materialization, fence) VALUES ($1, 1) ON CONFLICT (materialization) DO UPDATE SET fence = ${CHECKPOINTS_TABLE}.fence + 1 RETURNING fence, checkpoint`,
        [this.materialization],
      );
      await client.query('COMMIT');
      this.fence = Number(fenced.rows[0]!.fence);
      return fenced.rows[0]!.checkpoint ?? undefined;
    } catch (err) {
      await this.close();
      throw err instanceof InletError ? err : unavailable(this.config, err);
    }
  }

  async commit(docs: readonly unknown[], checkpoint: string, merge?: Merge): Promise<void> {
    const client = this.client;
    if (!client) throw new InletError('INTERNAL', `materialization ${this.materialization}: commit before open`);
    try {
      await client.query('BEGIN');
      const fenced = await client.query(`UPDATE ${CHECKPOINTS_TABLE} SET checkpoint = $2 WHERE materialization = $1 AND fence = $3`, [this.materialization, checkpoint, this.fence]);
      if (fenced.rowCount !== 1) {
        throw new InletError('MATERIALIZATION_FENCED', `materialization ${this.materialization}: another process has opened it since this one did (fence ${this.fence}); this one stops`);
      }
      crashPoint('materialize.load');
      let rows = docs;
      if (merge) {
        const keyPointers = this.plan.keys.map((k) => k.field.location);
        const loaded = await client.query<{ doc: unknown }>(this.loadSql, [recordsOf(this.plan.keys, docs)]);
        const stored = new Map(loaded.rows.map((r) => [packKey(r.doc, keyPointers), r.doc]));
        rows = docs.map((d) => merge(stored.get(packKey(d, keyPointers)), d));
      }
      if (rows.length > 0) await client.query(this.writeSql, [recordsOf(this.plan.columns, rows)]);
      crashPoint('materialize.store');
      await client.query('COMMIT');
      crashPoint('materialize.committed');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err instanceof InletError ? err : unavailable(this.config, err);
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}

/** Documents as the JSON text of `[{c0, c1, …}]`: each column's value (JSON columns' as they are), absent when null. */
function recordsOf(columns: TablePlan['columns'], docs: readonly unknown[]): string {
  return JSON.stringify(
    docs.map((d) => {
      const r: Record<string, unknown> = {};
      columns.forEach((c, i) => {
        // Left out, a value is SQL NULL (a JSON null in a JSON column would be the JSON value null).
        const v = recordValue(c, d);
        if (v !== null) r[`c${i}`] = v;
      });
      return r;
    }),
  );
}

/** The table's name as PostgreSQL stores it. */
function tableName(plan: TablePlan): string {
  return plan.sql.startsWith('"') ? plan.table : plan.table.toLowerCase();
}

/** A database error as one line naming the server; connection failures are DATABASE_UNAVAILABLE. */
function unavailable(config: PostgresConfig, err: unknown): InletError {
  const e = err as Error & { code?: string };
  const where = `PostgreSQL ${config.user}@${config.host}:${config.port}/${config.dbname}`;
  return new InletError('DATABASE_UNAVAILABLE', `${where}: ${e.message || e.code || String(err)}`, { cause: err });
}
