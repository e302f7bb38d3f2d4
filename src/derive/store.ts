import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { ConsumerCheckpoint, Store } from '../consumer/types.js';
import type { BrokerClient } from '../client/broker-client.js';
import type { JournalWriter } from '../client/journal-writer.js';
import { crashPoint } from '../crashpoints.js';
import { InletError } from '../errors.js';
import { loadSnapshot, snapshotsInTail, Snapshotter, type SnapshotLog, type SnapshotOptions, type SnapshotPointer } from './snapshots.js';

/**
 * Where a derivation's commits are logged, so that its registers survive the loss of its disk:
 * a journal of the broker (in the lake like every journal), `recovery/derive/<name>`.
 */
export interface RecoveryLog {
  client: BrokerClient;
  writer: JournalWriter;
  journal: string;
  /** When to write snapshots (see snapshots.ts). */
  snapshots?: SnapshotOptions;
  /** Progress lines: snapshots written, where recovery started. */
  logger?: SnapshotLog;
}

/** What the last open read to recover (for logs and tests). */
export interface RecoveryStats {
  /** The base of the snapshot loaded, if one was. */
  snapshotBase?: number;
  snapshotRegisters?: number;
  /** Bytes of the recovery log read (replayed from the store's or the snapshot's offset to the head). */
  logBytes: number;
  from: number;
  head: number;
}

/**
 * A derivation's registers and checkpoint in an embedded SQLite database (better-sqlite3):
 * registers by packed shuffle key, as JSON text, never all in memory. Only the working set is
 * held: registers staged by the open transaction, and those of transactions waiting to commit,
 * which later transactions read through (they may read before an earlier one is durable).
 *
 * A commit writes the staged registers and the checkpoint in one SQLite transaction, so a
 * crash leaves the previous commit or this one (WAL, synchronous=FULL; NORMAL with a recovery
 * log, which holds every commit durably before SQLite gets it).
 *
 * With a recovery log (Gazette's recovery logs, simplified), the invariant is:
 *   the log is the truth; SQLite is a cache of the log's prefix [0, meta.log).
 * - A commit appends one NDJSON record `{ r: [[key, register]…], c: checkpoint }` (the registers
 *   the transaction changed, and its checkpoint) at the log's write head as this process last
 *   saw it (an expected-offset append). That append *is* the commit: a crash after it and
 *   before SQLite is written loses nothing, since the record is replayed at the next open.
 *   A second process on the same derivation moves the head, so the other's next append fails
 *   (it is fenced) and its derivation stops.
 * - Open replays the records from `meta.log` to the log's write head into SQLite, each in one
 *   SQLite transaction with its new `meta.log`; on an empty data dir that is the whole log.
 * - SQLite never gets ahead of the log: it is written only after the append succeeded.
 * - Snapshots (snapshots.ts) bound replay: once the log grew enough since the last one, a
 *   background reader copies SQLite as of one commit, i.e. the log prefix [0, base), to the
 *   lake and then publishes a pointer to it. Open loads the latest published snapshot (the
 *   greatest base among the last pointers) when its base is beyond `meta.log` (an empty data
 *   dir), in one SQLite transaction with `meta.log = base`, then replays the log from there.
 *   Registers are never deleted, so loading a later prefix's registers over an earlier one's is
 *   exact. A snapshot only copies a log prefix, so a crashed, stale or unfinished snapshot can
 *   never make SQLite differ from the log.
 */
/** Keys per query of `getMany`. */
const GET_MANY = 5000;

export class RegisterStore implements Store {
  private staged = new Map<string, unknown>();
  /** Staged registers of transactions whose commit was called but has not yet written, oldest first. */
  private readonly waiting: Map<string, unknown>[] = [];
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement<[string], { value: string }>;
  private readonly getManyStmt: Database.Statement<[string], { key: string; value: string }>;
  private readonly putStmt: Database.Statement<[string, string]>;
  private readonly metaGet: Database.Statement<[string], { value: string }>;
  private readonly metaPut: Database.Statement<[string, string]>;
  private readonly writeAll: (changes: Map<string, unknown>, meta: Record<string, string>) => void;

  /** Called after each commit is durable (in the log and SQLite). */
  onCommitted: (() => void) | undefined;
  /** The log's write head as this process knows it (the expected offset of the next record). */
  private logHead = 0;
  private log: RecoveryLog | undefined;
  private snapshotter: Snapshotter | undefined;
  /** Set by open with a recovery log. */
  recovery: RecoveryStats | undefined;

  /** Opens the store at `path`; with `log`, first replays into it what the recovery log holds beyond it. */
  static async open(path: string, log?: RecoveryLog): Promise<RegisterStore> {
    const store = new RegisterStore(path);
    if (log) {
      try {
        await store.recover(log);
      } catch (err) {
        store.close();
        throw err;
      }
    }
    return store;
  }

  private async recover(log: RecoveryLog): Promise<void> {
    await log.writer.ensure({ name: log.journal, contentType: 'application/x-ndjson', labels: { 'inlet.dev/recovery-log': 'derivation' } });
    const head = (await log.client.head(log.journal)).writeHead;
    let offset = Number(this.meta('log') ?? 0);
    if (offset > head) {
      throw new InletError('IO_ERROR', `register store ${this.path} reflects ${log.journal} up to ${offset}, beyond its write head ${head}: it belongs to another broker or lake; remove it to recover from the log`);
    }
    const stats: RecoveryStats = { logBytes: 0, from: offset, head };
    let snapshot: SnapshotPointer | undefined;
    // Only a store behind the log looks for a snapshot; one that cannot be found or read is no
    // snapshot (the log alone recovers, only slower).
    const candidates =
      offset < head
        ? await snapshotsInTail(log.client, log.journal).catch((err: unknown) => {
            log.logger?.({ journal: log.journal, err: (err as Error).message }, 'snapshot pointers unreadable: recovering from the log');
            return [];
          })
        : [];
    for (const candidate of candidates) {
      if (candidate.base <= offset || candidate.base > head) continue;
      this.db.exec('BEGIN');
      try {
        await loadSnapshot(log.client, log.journal, candidate, (registers) => {
          for (const [key, value] of registers) this.putStmt.run(key, JSON.stringify(value));
        });
        this.metaPut.run('log', String(candidate.base));
        if (candidate.checkpoint !== undefined) this.metaPut.run('checkpoint', candidate.checkpoint);
        this.db.exec('COMMIT');
        snapshot = candidate;
        offset = candidate.base;
        Object.assign(stats, { from: offset, snapshotBase: candidate.base, snapshotRegisters: candidate.registers });
        break;
      } catch (err) {
        this.db.exec('ROLLBACK');
        log.logger?.({ journal: log.journal, base: candidate.base, err: (err as Error).message }, 'snapshot unusable: trying an older one, or the log');
      }
    }
    const replayFrom = offset;
    let rest: Buffer = Buffer.alloc(0);
    while (offset + rest.length < head) {
      const read = await log.client.readFrom(log.journal, offset + rest.length, false);
      let got = 0;
      for await (const chunk of read.body) {
        rest = rest.length ? Buffer.concat([rest, chunk]) : chunk;
        got += chunk.length;
        for (let nl = rest.indexOf(10); nl >= 0; nl = rest.indexOf(10)) {
          const record = JSON.parse(rest.subarray(0, nl).toString('utf8')) as { r: [string, unknown][]; c: ConsumerCheckpoint };
          offset += nl + 1;
          rest = rest.subarray(nl + 1);
          this.writeAll(new Map(record.r), { checkpoint: JSON.stringify(record.c), log: String(offset) });
        }
      }
      if (got === 0) throw new InletError('IO_ERROR', `${log.journal}: no bytes at ${offset + rest.length}, below its write head ${head}`);
    }
    if (rest.length) throw new InletError('INVALID_CONTENT', `${log.journal}: a partial record at ${offset}`);
    stats.logBytes = head - replayFrom;
    this.recovery = stats;
    log.logger?.({ journal: log.journal, ...stats }, stats.snapshotBase !== undefined ? 'recovered from a snapshot and the log after it' : 'recovered from the log');
    this.logHead = head;
    this.log = log;
    if (this.path !== ':memory:') {
      const newest = snapshot ?? candidates[0];
      const last = newest ? { base: newest.base, bytes: newest.end - newest.begin } : { base: 0, bytes: 0 };
      this.snapshotter = new Snapshotter(this.path, log.client, log.writer, log.journal, last, log.snapshots, log.logger);
    }
    // SQLite is now a cache of the log's prefix: a write it loses (the OS crashing before the WAL
    // reached the disk) is replayed from the log at the next open, since meta.log goes back with
    // it. So no fsync per commit on the event loop, between the log append and the ACKs.
    this.db.pragma('synchronous = NORMAL');
  }

  private constructor(readonly path: string) {
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
    // A join over the JSON array of keys: one statement per batch (several times cheaper than a
    // query per key, and cheaper still for keys never written, as a backfill's new keys).
    this.getManyStmt = this.db.prepare('SELECT j.value AS key, r.value AS value FROM json_each(?) AS j JOIN registers AS r ON r.key = j.value');
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

  /**
   * `get` of many keys at once: one SQLite query for those neither staged nor waiting to
   * commit. Keys never written are absent from the result. Its values are as of now: read
   * them before anything else may `put` or commit (in the same synchronous run).
   */
  getMany(keys: Iterable<string>): Map<string, unknown> {
    const out = new Map<string, unknown>();
    const missing = new Set<string>();
    for (const key of keys) {
      if (out.has(key) || missing.has(key)) continue;
      if (this.staged.has(key)) {
        out.set(key, this.staged.get(key));
        continue;
      }
      let found = false;
      for (let i = this.waiting.length - 1; i >= 0 && !found; i--) {
        if (this.waiting[i]!.has(key)) {
          out.set(key, this.waiting[i]!.get(key));
          found = true;
        }
      }
      if (!found) missing.add(key);
    }
    const all = [...missing];
    for (let at = 0; at < all.length; at += GET_MANY) {
      for (const row of this.getManyStmt.iterate(JSON.stringify(all.slice(at, at + GET_MANY)))) out.set(row.key, JSON.parse(row.value));
    }
    return out;
  }

  /** Stages `value` as the register of `key`; it commits with the transaction. */
  put(key: string, value: unknown): void {
    this.staged.set(key, value);
  }

  /** How many registers are committed (a count query: for status and tests). */
  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM registers').get() as { n: number }).n;
  }

  /** Whether no register was ever committed. */
  empty(): boolean {
    return this.db.prepare('SELECT 1 FROM registers LIMIT 1').get() === undefined;
  }

  /** A metadata value committed with the registers (the checkpoint, the recovery log offset). */
  meta(name: string): string | undefined {
    return this.metaGet.get(name)?.value;
  }

  async restoreCheckpoint(): Promise<ConsumerCheckpoint | undefined> {
    const text = this.meta('checkpoint');
    return text === undefined ? undefined : (JSON.parse(text) as ConsumerCheckpoint);
  }

  async commit(ready: Promise<ConsumerCheckpoint>): Promise<void> {
    const changes = this.take();
    const checkpoint = await ready;
    const text = JSON.stringify(checkpoint);
    if (!this.log) {
      this.write(changes, { checkpoint: text });
      this.onCommitted?.();
      return;
    }
    const record = Buffer.from(`{"r":${JSON.stringify([...changes])},"c":${text}}\n`);
    const { end } = await this.log.client.append(this.log.journal, record, 'application/x-ndjson', { expectOffset: this.logHead });
    crashPoint('derive.logged');
    this.logHead = end;
    this.write(changes, { checkpoint: text, log: String(end) });
    this.onCommitted?.();
    this.snapshotter?.maybeStart(end);
  }

  /** Writes and publishes a snapshot now (with a recovery log); resolves once published. */
  async snapshot(): Promise<void> {
    if (!this.snapshotter) throw new InletError('BAD_REQUEST', `register store ${this.path}: snapshots need a recovery log and a file`);
    await this.snapshotter.now();
  }

  /** Waits for a snapshot being written, and starts no more (before close). */
  async settleSnapshots(): Promise<void> {
    await this.snapshotter?.close();
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
