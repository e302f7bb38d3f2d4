#!/usr/bin/env node
// Runs SQL with DuckDB (the @duckdb/node-api package that `npm ci` installs) and prints the
// rows as a table: `node catalog/query.mjs "SELECT …"`. Any DuckDB (the duckdb CLI, Python)
// runs the same SQL against the lake.
import { DuckDBInstance } from '@duckdb/node-api';

const sql = process.argv[2];
if (!sql) {
  process.stderr.write('usage: node catalog/query.mjs "SELECT …"\n');
  process.exit(2);
}
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
try {
  const reader = await conn.runAndReadAll(sql);
  const names = reader.columnNames();
  const rows = reader.getRowsJson().map((r) => r.map((v) => (v === null ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v))));
  const widths = names.map((n, i) => Math.max(n.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(line(names));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
} catch (err) {
  process.stderr.write(`query: ${err.message}\n`);
  process.exitCode = 1;
} finally {
  conn.closeSync?.();
}
