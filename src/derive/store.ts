import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { ConsumerCheckpoint, Store } from '../consumer/types.js';
import { InletError } from '../errors.js';

/**
 * A derivation's registers and checkpoint in an embedded SQLite database (better-sqlite3):
 * registers by packed shuffle key, as JSON text, never all in memory. Only the working set is
 * held: registers staged by the open transaction, and those of transactions waiting to commit,
 * which later transactions read through (they may read before an earlier one is durable).
 *
 * A commit writes the staged registers and the checkpoint in one SQLite transaction, so a
 * crash leaves the previous commit or this one (WAL, synchronous=FULL).
 */
export class RegisterStore implements Store {
  private staged = new Map<string, unknown>();
  /** Staged registers of transactions whose commit was called but has not yet written, oldest first. */
  private readonly waiting: Map<string, unknown>[] = [];
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement<[string], { value: string }>;
  private readonly putStmt: Database.Statement<[string, string]>;
  private readonly metaGet: Database.Statement<[string], { value: string }>;
  private readonly metaPut: Database.Statement<[string, string]>;
  private readonly writeAll: (changes: Map<string, unknown>, meta: Record<string, string>) => void;

  constructor(readonly path: string) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.exec('CREATE TABLE IF NOT EXISTS registers (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
      this.db.exec('CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
    } catch (err) {
      throw new InletError('IO_ERROR', `register store ${path}: ${(err as Error).message}`, { cause: err });
    }
    this.getStmt = this.db.prepare('SELECT value FROM registers WHERE key = ?');
    this.putStmt = this.db.prepare('INSERT INTO registers (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    this.metaGet = this.db.prepare('SELECT value FROM meta WHERE name = ?');
    this.metaPut = this.db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value');
    this.writeAll = this.db.transaction((changes: Map<string, unknown>, meta: Record<string, string>) => {
      for (const [key, value] of changes) this.putStmt.run(key, JSON.stringify(value));
      for (const [name, value] of Object.entries(meta)) this.metaPut.run(name, value);
    });
  }

  /** The register of `key` as staged or committed; undefined when it was never written. Do not modify it: `put` a new value. */
  get(key: string): unknown {
    if (this.staged.has(key)) return this.staged.get(key);
    for (let i = this.waiting.length - 1; i >= 0; i--) if (this.waiting[i]!.has(key)) return this.waiting[i]!.get(key);
    const row = this.getStmt.get(key);
    return row === undefined ? undefined : JSON.parse(row.value);
  }

  /** Stages `value` as the register of `key`; it commits with the transaction. */
  put(key: string, value: unknown): void {
    this.staged.set(key, value);
  }

  /** How many registers are committed (a count query: for status and tests). */
  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM registers').get() as { n: number }).n;
  }

  /** A metadata value committed with the registers (the checkpoint, the recovery log offset). */
  meta(name: string): string | undefined {
    return this.metaGet.get(name)?.value;
  }

  async restoreCheckpoint(): Promise<ConsumerCheckpoint | undefined> {
    const text = this.meta('checkpoint');
    return text === undefined ? undefined : (JSON.parse(text) as ConsumerCheckpoint);
  }

  async commit(checkpoint: ConsumerCheckpoint, waitFor: Promise<void>): Promise<void> {
    const changes = this.take();
    await waitFor;
    this.write(changes, { checkpoint: JSON.stringify(checkpoint) });
  }

  /** Takes the staged registers for a commit: they stay readable until `write` makes them durable. */
  take(): Map<string, unknown> {
    const changes = this.staged;
    this.staged = new Map();
    this.waiting.push(changes);
    return changes;
  }

  /** Writes registers taken by `take` (the oldest waiting) and metadata, atomically. */
  write(changes: Map<string, unknown>, meta: Record<string, string>): void {
    this.writeAll(changes, meta);
    const i = this.waiting.indexOf(changes);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
