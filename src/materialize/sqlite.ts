import Database from 'better-sqlite3';
import { crashPoint } from '../crashpoints.js';
import { InletError } from '../errors.js';
import { CHECKPOINTS_TABLE, type Driver, type Merge } from './driver.js';
import { addColumnSql, columnValue, createTableSql, evolve, type TablePlan } from './table.js';

/**
 * The SQLite driver (better-sqlite3): the same table, checkpoint and fence as PostgreSQL's, in
 * a database file that several processes may open (WAL). A commit is one `BEGIN IMMEDIATE`
 * transaction: the fenced checkpoint update, a lookup of each key's stored document (an
 * indexed point query, in process), the upserts, COMMIT.
 */
export class SqliteDriver implements Driver {
  private db: Database.Database | undefined;
  private fence = 0;

  constructor(
    private readonly path: string,
    private readonly plan: TablePlan,
    private readonly materialization: string,
  ) {}

  async open(): Promise<string | undefined> {
    let db: Database.Database;
    try {
      db = new Database(this.path);
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 5000');
      // Durable at COMMIT, as PostgreSQL is: a crash of the machine loses no committed transaction.
      db.pragma('synchronous = FULL');
    } catch (err) {
      throw new InletError('DATABASE_UNAVAILABLE', `SQLite ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    this.db = db;
    const plan = this.plan;
    try {
      const row = db.transaction(() => {
        db.exec(`CREATE TABLE IF NOT EXISTS ${CHECKPOINTS_TABLE} (materialization TEXT PRIMARY KEY, fence INTEGER NOT NULL, checkpoint TEXT)`);
        const existing = db.prepare(`SELECT name, type, "notnull" AS nn FROM pragma_table_info(?)`).all(plan.table) as { name: string; type: string; nn: number }[];
        if (existing.length === 0) {
          for (const sql of createTableSql(plan)) db.exec(sql);
        } else {
          // SQLite keeps names as written; ours are compared as PostgreSQL folds them.
          const add = evolve(plan, existing.map((e) => ({ name: plan.columns.find((c) => c.name.toLowerCase() === e.name.toLowerCase())?.name ?? e.name, type: e.type, notNull: e.nn === 1 })));
          for (const c of add) db.exec(addColumnSql(plan, c));
        }
        return db
          .prepare(`INSERT INTO ${CHECKPOINTS_TABLE} (materialization, fence) VALUES (?, 1) ON CONFLICT (materialization) DO UPDATE SET fence = fence + 1 RETURNING fence, checkpoint`)
          .get(this.materialization) as { fence: number; checkpoint: string | null };
      }).immediate();
      this.fence = row.fence;
      return row.checkpoint ?? undefined;
    } catch (err) {
      await this.close();
      throw err instanceof InletError ? err : new InletError('DATABASE_UNAVAILABLE', `SQLite ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  async commit(docs: readonly unknown[], checkpoint: string, merge?: Merge): Promise<void> {
    const db = this.db;
    if (!db) throw new InletError('INTERNAL', `materialization ${this.materialization}: commit before open`);
    const plan = this.plan;
    const doc = plan.columns.find((c) => c.field.location === '')!;
    const fenceSql = db.prepare(`UPDATE ${CHECKPOINTS_TABLE} SET checkpoint = ? WHERE materialization = ? AND fence = ?`);
    const load = db.prepare(`SELECT ${doc.sql} AS doc FROM ${plan.sql} WHERE ${plan.keys.map((k) => `${k.sql} = ?`).join(' AND ')}`);
    const names = plan.columns.map((c) => c.sql).join(', ');
    const updates = plan.columns.filter((c) => !c.field.key).map((c) => `${c.sql} = excluded.${c.sql}`);
    const insert = `INSERT INTO ${plan.sql} (${names}) VALUES (${plan.columns.map(() => '?').join(', ')})`;
    const write = db.prepare(plan.deltaUpdates ? insert : `${insert} ON CONFLICT (${plan.keys.map((k) => k.sql).join(', ')}) DO UPDATE SET ${updates.join(', ')}`);
    try {
      db.transaction(() => {
        if (fenceSql.run(checkpoint, this.materialization, this.fence).changes !== 1) {
          throw new InletError('MATERIALIZATION_FENCED', `materialization ${this.materialization}: another process has opened it since this one did (fence ${this.fence}); this one stops`);
        }
        crashPoint('materialize.load');
        for (const d of docs) {
          let row = d;
          if (merge) {
            const stored = load.get(...plan.keys.map((k) => columnValue(k, d))) as { doc: string } | undefined;
            row = merge(stored ? JSON.parse(stored.doc) : undefined, d);
          }
          write.run(...plan.columns.map((c) => columnValue(c, row)));
        }
        crashPoint('materialize.store');
      }).immediate();
      crashPoint('materialize.committed');
    } catch (err) {
      throw err instanceof InletError ? err : new InletError('DATABASE_UNAVAILABLE', `SQLite ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }
}
