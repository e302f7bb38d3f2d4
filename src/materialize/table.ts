import { columnName, RESERVED } from '../catalog/materialization.js';
import type { MaterializationSpec, MaterializedField } from '../catalog/types.js';
import { getPointer } from '../doc/json.js';
import { InletError } from '../errors.js';

/** The SQL dialects materializations write. */
export type Dialect = 'postgres' | 'sqlite';

/** One column of a materialized table. */
export interface Column {
  readonly field: MaterializedField;
  /** As SQL writes it: plain names unquoted, others double-quoted. */
  readonly sql: string;
  /** As the database stores it (plain names folded to lower case). */
  readonly name: string;
  /** The SQL type; PostgreSQL's also names the array type `unnest` takes (`BIGINT` → `BIGINT[]`). */
  readonly type: string;
  readonly notNull: boolean;
  /** How a document value is passed as a parameter: JSON columns take its text. */
  readonly json: boolean;
}

/** A materialization's table in one dialect: its name and columns, key columns first. */
export interface TablePlan {
  readonly dialect: Dialect;
  readonly table: string;
  /** The table as SQL writes it. */
  readonly sql: string;
  readonly columns: readonly Column[];
  readonly keys: readonly Column[];
  /** Delta-updates tables have no primary key: every transaction appends its rows. */
  readonly deltaUpdates: boolean;
}

/** `name` as SQL writes it: plain, non-reserved identifiers as they are, others double-quoted. */
export function quoteIdent(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !RESERVED.has(name.toLowerCase()) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** A string literal for DDL (comments): quotes doubled. Values never go through here. */
export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** The table a materialization writes in `dialect`. */
export function tablePlan(spec: MaterializationSpec, dialect: Dialect): TablePlan {
  const columns = spec.columns.map((field): Column => {
    const type = sqlType(field, dialect);
    const nullable = !field.required || (field.types ?? ['null']).includes('null');
    return { field, sql: quoteIdent(field.field), name: columnName(field.field), type, notNull: !nullable, json: type === 'JSON' || (dialect === 'sqlite' && jsonish(field)) };
  });
  return { dialect, table: spec.table, sql: quoteIdent(spec.table), columns, keys: columns.filter((c) => c.field.key), deltaUpdates: spec.deltaUpdates };
}

/** Whether a field's values are objects, arrays or of several types (a JSON column). */
function jsonish(f: MaterializedField): boolean {
  const types = (f.types ?? []).filter((t) => t !== 'null');
  if (f.location === '' || types.length === 0) return true;
  if (types.every((t) => t === 'integer' || t === 'number')) return false;
  return types.length > 1 || types[0] === 'object' || types[0] === 'array';
}

function sqlType(f: MaterializedField, dialect: Dialect): string {
  const types = (f.types ?? []).filter((t) => t !== 'null');
  const pg = dialect === 'postgres';
  if (jsonish(f)) return pg ? 'JSON' : 'TEXT';
  if (types.every((t) => t === 'integer')) return pg ? 'BIGINT' : 'INTEGER';
  if (types.every((t) => t === 'integer' || t === 'number')) return pg ? 'DOUBLE PRECISION' : 'REAL';
  if (types[0] === 'boolean') return pg ? 'BOOLEAN' : 'INTEGER';
  if (f.format === 'date-time' && pg) return 'TIMESTAMPTZ';
  return 'TEXT';
}

/**
 * The statements that create the table: columns with their types and NOT NULL, the key's
 * columns as PRIMARY KEY (unless delta updates), and descriptions as comments.
 */
export function createTableSql(plan: TablePlan): string[] {
  const pg = plan.dialect === 'postgres';
  const lines = plan.columns.map((c) => {
    const comment = !pg && c.field.description ? ` -- ${c.field.description.replace(/\s+/g, ' ')}` : '';
    return { text: `  ${c.sql} ${c.type}${c.notNull ? ' NOT NULL' : ''}`, comment };
  });
  if (!plan.deltaUpdates) lines.push({ text: `  PRIMARY KEY (${plan.keys.map((k) => k.sql).join(', ')})`, comment: '' });
  const body = lines.map((l, i) => `${l.text}${i < lines.length - 1 ? ',' : ''}${l.comment}`).join('\n');
  const out = [`CREATE TABLE IF NOT EXISTS ${plan.sql} (\n${body}\n)`];
  if (pg) {
    for (const c of plan.columns) {
      const whole = plan.deltaUpdates ? 'The documents of one transaction, combined by key' : 'The whole document, reduced by key';
      const text = c.field.location === '' ? whole : c.field.description;
      if (text) out.push(`COMMENT ON COLUMN ${plan.sql}.${c.sql} IS ${quoteLiteral(text)}`);
    }
  }
  return out;
}

/** `ALTER TABLE … ADD COLUMN` for a column an existing table lacks. */
export function addColumnSql(plan: TablePlan, c: Column): string {
  return `ALTER TABLE ${plan.sql} ADD COLUMN ${c.sql} ${c.type}`;
}

/** A column as an existing table has it. */
export interface ExistingColumn {
  readonly name: string;
  /** The type as the database names it, lower case. */
  readonly type: string;
  readonly notNull: boolean;
}

/** Types a database reports that a column of ours accepts. */
const ACCEPTS: Record<string, string[]> = {
  JSON: ['json', 'jsonb'],
  BIGINT: ['bigint'],
  'DOUBLE PRECISION': ['double precision'],
  BOOLEAN: ['boolean'],
  TEXT: ['text', 'character varying'],
  TIMESTAMPTZ: ['timestamp with time zone'],
  INTEGER: ['integer', 'int', 'bigint'],
  REAL: ['real', 'double', 'float'],
};

/**
 * What an existing table needs so that it can be written: the columns to add (optional fields it
 * lacks). Throws TABLE_INCOMPATIBLE naming the first column that cannot be used: one of another
 * type, one NOT NULL in the table that may be null in documents, or a missing required field.
 */
export function evolve(plan: TablePlan, existing: readonly ExistingColumn[]): Column[] {
  const byName = new Map(existing.map((e) => [e.name, e]));
  const add: Column[] = [];
  const fail = (c: Column, why: string) =>
    new InletError('TABLE_INCOMPATIBLE', `table ${plan.table}: column ${c.name} ${why}; drop the table (it is rebuilt from the collection) or exclude the field in fields.exclude`);
  for (const c of plan.columns) {
    const e = byName.get(c.name);
    if (!e) {
      if (c.notNull) throw fail(c, `is missing, and field ${c.field.field} is required`);
      add.push(c);
      continue;
    }
    if (!(ACCEPTS[c.type] ?? [c.type.toLowerCase()]).includes(e.type.toLowerCase())) throw fail(c, `has type ${e.type}, and field ${c.field.field} needs ${c.type}`);
    if (e.notNull && !c.notNull) throw fail(c, `is NOT NULL, and field ${c.field.field} may be absent or null`);
  }
  return add;
}

/** A document's value for a column as a JSON record carries it: null when absent, JSON columns' values as they are. */
export function recordValue(c: Column, doc: unknown): unknown {
  const v = c.field.location === '' ? doc : getPointer(doc, c.field.location);
  return v === undefined ? null : v;
}

/** A document's value for a column, as a parameter: JSON columns take JSON text, booleans in SQLite 0/1. */
export function columnValue(c: Column, doc: unknown): unknown {
  const v = c.field.location === '' ? doc : getPointer(doc, c.field.location);
  if (v === undefined || v === null) return null;
  if (c.json) return JSON.stringify(v);
  if (typeof v === 'boolean' && c.type === 'INTEGER') return v ? 1 : 0;
  return v;
}
