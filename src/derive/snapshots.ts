import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import type { BrokerClient } from '../client/broker-client.js';
import type { JournalWriter } from '../client/journal-writer.js';
import { crashPoint } from '../crashpoints.js';
import { InletError } from '../errors.js';

/**
 * Snapshots of a register store, so that recovery on an empty data dir does not replay the
 * whole recovery log (Gazette's recovery logs record "hints" of which log segments a store
 * still needs; ours is simpler: a full copy of the registers as of a log offset).
 *
 * Two journals next to the recovery log `recovery/<x>`:
 * - `recovery/snapshots/<x>`: snapshot bodies, NDJSON chunk records `{"r":[[key, register]…]}`.
 *   A snapshot is the contiguous range [begin, end) of chunks, appended at expected offsets, so
 *   no other writer's bytes can fall inside it.
 * - `recovery/snapshot-pointers/<x>`: one small record per published snapshot,
 *   `{ base, begin, end, registers, sha256, checkpoint }`: the registers and checkpoint as of
 *   the log prefix [0, base), stored at [begin, end) of the bodies journal with that digest.
 *   Recovery reads only the tail of this journal (the pointer of greatest base among its last
 *   records, or an older one if that one's body does not check), never the log before it.
 *
 * Why a pointer journal rather than a journal label: an append is atomic and durable like every
 * commit of the log, needs no revision handling, and keeps a history (an older pointer stays
 * usable if the last one's body were damaged: recovery then replays the log from an older base).
 *
 * Crash safety: a pointer is appended only after its whole body is durable, so a crash at any
 * point of a snapshot leaves the previous pointer the last one, and its body intact (bodies are
 * only appended to). A stale (fenced) process can still write a snapshot, but a snapshot only
 * ever holds what this process's SQLite holds, a prefix [0, base) of the log that the log's
 * expected-offset appends made the truth: at worst an older base, which recovery passes over
 * for a newer pointer in the tail.
 *
 * Pruning: after publishing, the fragments of the log wholly below the second-newest snapshot
 * (its base less the `logTail` bytes) and of the bodies wholly below both snapshots' bodies are
 * deleted from the lake, so the lake holds two snapshots and the log since the older one. Two,
 * so that a damaged newest body still has a fallback. Only pointers in the tail count, and
 * the pointers only grow, so whatever two are newest when pruning, they stay loadable; a stale
 * process's pointer is a true prefix too. Spools not yet persisted are pruned at a later
 * snapshot. A broker that refuses (the token lacks DELETE) leaves everything in place.
 */
export interface SnapshotOptions {
  /** A snapshot is written once the log grew by more than max(minBytes, factor × the last snapshot's size) since its base. Default 64 MiB. */
  minBytes?: number;
  /** Default 2. */
  factor?: number;
  /** Bytes per chunk record (an append). Default 1 MiB. */
  chunkBytes?: number;
  /** No snapshots as the log grows (recovery still uses existing ones; `RegisterStore.snapshot` still writes one). */
  disabled?: boolean;
  /** Keep the log and bodies the two newest snapshots no longer need. Default false: they are pruned. */
  keepAll?: boolean;
}

export interface SnapshotPointer {
  base: number;
  begin: number;
  end: number;
  registers: number;
  sha256: string;
  /** The store's checkpoint as of `base` (JSON text), absent before the first commit. */
  checkpoint?: string;
  /**
   * sha256 of the log's bytes [max(0, base - 256), base): ties the snapshot to the log it copies,
   * so a pointer outliving its log (deleted and created again, or cut back) is not loaded.
   */
  logTail: string;
}

/** How many log bytes below `base` a pointer's `logTail` digests. */
const LOG_TAIL_BYTES = 256;

async function logTailDigest(client: BrokerClient, log: string, base: number): Promise<string> {
  const hash = createHash('sha256');
  await readRange(client, log, Math.max(0, base - LOG_TAIL_BYTES), base, (b) => hash.update(b));
  return hash.digest('hex');
}

/** Logs progress: the runtime passes its logger; default silent. */
export type SnapshotLog = (fields: Record<string, unknown>, message: string) => void;

export function snapshotJournals(log: string): { bodies: string; pointers: string } {
  const rest = log.startsWith('recovery/') ? log.slice('recovery/'.length) : log;
  return { bodies: `recovery/snapshots/${rest}`, pointers: `recovery/snapshot-pointers/${rest}` };
}

const MIB = 1024 * 1024;

async function headOrZero(client: BrokerClient, journal: string): Promise<number> {
  try {
    return (await client.head(journal)).writeHead;
  } catch (err) {
    if (err instanceof InletError && err.code === 'JOURNAL_NOT_FOUND') return 0;
    throw err;
  }
}

/** Reads [from, to) of a journal, calling `onChunk` with each piece in order; returns the bytes read. */
async function readRange(client: BrokerClient, journal: string, from: number, to: number, onChunk: (b: Buffer) => void): Promise<number> {
  let at = from;
  while (at < to) {
    const read = await client.readFrom(journal, at, false);
    let got = 0;
    for await (const chunk of read.body) {
      const piece = at + chunk.length > to ? chunk.subarray(0, to - at) : chunk;
      onChunk(piece);
      at += piece.length;
      got += piece.length;
      if (at >= to) break;
    }
    if (got === 0) throw new InletError('IO_ERROR', `${journal}: no bytes at ${at}, below ${to}`);
  }
  return at - from;
}

/** The latest published snapshot of the recovery log `log`, if any (see `snapshotsInTail`). */
export async function latestSnapshot(client: BrokerClient, log: string): Promise<SnapshotPointer | undefined> {
  return (await snapshotsInTail(client, log))[0];
}

/**
 * The snapshots of the pointer journal's tail (64 KiB: some hundreds of pointers, or more if
 * that holds none), newest first: greatest base first, the later pointer first on ties. A
 * fenced process may publish a snapshot of an older prefix after a newer one; both are true,
 * the newer replays less, and the older ones are there to fall back on.
 */
export async function snapshotsInTail(client: BrokerClient, log: string): Promise<SnapshotPointer[]> {
  const { pointers } = snapshotJournals(log);
  const head = await headOrZero(client, pointers);
  if (head === 0) return [];
  for (let window = 64 * 1024; ; window *= 4) {
    const from = Math.max(0, head - window);
    const parts: Buffer[] = [];
    await readRange(client, pointers, from, head, (b) => parts.push(b));
    const lines = Buffer.concat(parts).toString('utf8').split('\n');
    lines.pop(); // after the last newline: empty (appends are whole records)
    if (from > 0) lines.shift(); // may start mid-record
    if (lines.length > 0 || from === 0) {
      const found = lines.map((line, at) => ({ p: JSON.parse(line) as SnapshotPointer, at }));
      return found.sort((a, b) => b.p.base - a.p.base || b.at - a.at).map((f) => f.p);
    }
  }
}

/**
 * Streams the body of `pointer` to `apply` (batches of registers) and checks its digest and
 * count; throws (after some `apply` calls: the caller rolls back) when they differ.
 */
export async function loadSnapshot(client: BrokerClient, log: string, pointer: SnapshotPointer, apply: (registers: [string, unknown][]) => void): Promise<void> {
  const { bodies } = snapshotJournals(log);
  if (typeof pointer.logTail !== 'string' || (await logTailDigest(client, log, pointer.base)) !== pointer.logTail) {
    throw new InletError('INVALID_CONTENT', `the snapshot at ${bodies} [${pointer.begin}, ${pointer.end}) is not of ${log} as it is now: its bytes below ${pointer.base} differ`);
  }
  const hash = createHash('sha256');
  let rest: Buffer = Buffer.alloc(0);
  let registers = 0;
  await readRange(client, bodies, pointer.begin, pointer.end, (chunk) => {
    hash.update(chunk);
    rest = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    for (let nl = rest.indexOf(10); nl >= 0; nl = rest.indexOf(10)) {
      const record = JSON.parse(rest.subarray(0, nl).toString('utf8')) as { r: [string, unknown][] };
      rest = rest.subarray(nl + 1);
      registers += record.r.length;
      apply(record.r);
    }
  });
  const sha = hash.digest('hex');
  if (rest.length || sha !== pointer.sha256 || registers !== pointer.registers) {
    throw new InletError('INVALID_CONTENT', `${bodies} [${pointer.begin}, ${pointer.end}): ${registers} registers, sha256 ${sha}; its pointer says ${pointer.registers}, ${pointer.sha256}`);
  }
}

/**
 * Writes snapshots of the SQLite register store at `path` in the background, when the log has
 * grown enough. Reads go through a second, read-only connection in one read transaction (WAL:
 * the store keeps committing meanwhile; the reader sees the registers and `meta.log` of one
 * commit), chunk by chunk, so the registers are never all in memory.
 */
export class Snapshotter {
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly minBytes: number;
  private readonly factor: number;
  private readonly chunkBytes: number;
  private readonly disabled: boolean;
  private prunes: boolean;

  constructor(
    private readonly path: string,
    private readonly client: BrokerClient,
    private readonly writer: JournalWriter,
    private readonly log: string,
    /** The last snapshot's base and size (0, 0 without one). */
    private last: { base: number; bytes: number },
    opts: SnapshotOptions = {},
    private readonly logger: SnapshotLog = () => {},
  ) {
    this.minBytes = opts.minBytes ?? 64 * MIB;
    this.factor = opts.factor ?? 2;
    this.chunkBytes = opts.chunkBytes ?? MIB;
    this.disabled = opts.disabled ?? false;
    this.prunes = !(opts.keepAll ?? false);
  }

  /** Starts a snapshot unless one runs, or the log at `head` did not grow enough since the last. */
  maybeStart(head: number): void {
    if (this.running || this.closed || this.disabled) return;
    if (head - this.last.base <= Math.max(this.minBytes, this.factor * this.last.bytes)) return;
    this.track(this.write()).catch((err: unknown) =>
      this.logger({ journal: this.log, err: err instanceof Error ? err.message : String(err) }, 'snapshot failed (the previous one stays in use)'),
    );
  }

  /** Writes and publishes a snapshot now, after any one running; `close` waits for it too. */
  async now(): Promise<SnapshotPointer> {
    while (this.running) await this.running;
    if (this.closed) throw new InletError('BAD_REQUEST', `snapshots of ${this.log} are closed`);
    return this.track(this.write());
  }

  private track<T>(work: Promise<T>): Promise<T> {
    const done = work.then(
      () => undefined,
      () => undefined,
    );
    this.running = done;
    void done.then(() => {
      if (this.running === done) this.running = undefined;
    });
    return work;
  }

  private async write(): Promise<SnapshotPointer> {
    const started = Date.now();
    const { bodies, pointers } = snapshotJournals(this.log);
    const labels = { 'inlet.dev/recovery-log': 'snapshot' };
    await this.writer.ensure({ name: bodies, contentType: 'application/x-ndjson', labels });
    await this.writer.ensure({ name: pointers, contentType: 'application/x-ndjson', labels });
    const db = new Database(this.path, { readonly: true, fileMustExist: true });
    try {
      db.exec('BEGIN');
      const meta = db.prepare('SELECT name, value FROM meta WHERE name IN (?, ?)').all('log', 'checkpoint') as { name: string; value: string }[];
      const base = Number(meta.find((m) => m.name === 'log')?.value ?? 0);
      const checkpoint = meta.find((m) => m.name === 'checkpoint')?.value;
      // The first page has no lower bound: '' is a key (a shuffle key whose field is absent).
      const first = db.prepare('SELECT key, value FROM registers ORDER BY key LIMIT 1000').raw(true) as Database.Statement<[], [string, string]>;
      const page = db.prepare('SELECT key, value FROM registers WHERE key > ? ORDER BY key LIMIT 1000').raw(true) as Database.Statement<[string], [string, string]>;
      const total = (db.prepare('SELECT count(*) AS n FROM registers').get() as { n: number }).n;
      const begin = await headOrZero(this.client, bodies);
      const hash = createHash('sha256');
      let at = begin;
      let registers = 0;
      let after: string | undefined;
      let parts: string[] = [];
      let size = 0;
      const flush = async () => {
        if (parts.length === 0) return;
        const record = Buffer.from(`{"r":[${parts.join(',')}]}\n`);
        parts = [];
        size = 0;
        const { end } = await this.client.append(bodies, record, 'application/x-ndjson', { expectOffset: at });
        hash.update(record);
        at = end;
        crashPoint('derive.snapshot.chunk');
      };
      for (;;) {
        const rows = after === undefined ? first.all() : page.all(after);
        if (rows.length === 0) break;
        for (const [key, value] of rows) {
          const entry = `[${JSON.stringify(key)},${value}]`;
          parts.push(entry);
          size += entry.length;
          registers++;
          if (size >= this.chunkBytes) await flush();
        }
        after = rows.at(-1)![0];
      }
      await flush();
      if (registers !== total) throw new Error(`snapshot of ${this.log}: read ${registers} registers of ${total}`);
      db.exec('COMMIT');
      crashPoint('derive.snapshot.written');
      const logTail = await logTailDigest(this.client, this.log, base);
      const pointer: SnapshotPointer = { base, begin, end: at, registers, sha256: hash.digest('hex'), logTail, ...(checkpoint !== undefined ? { checkpoint } : {}) };
      await this.client.append(pointers, Buffer.from(`${JSON.stringify(pointer)}\n`), 'application/x-ndjson');
      crashPoint('derive.snapshot.published');
      this.last = { base, bytes: at - begin };
      this.logger({ journal: this.log, base, registers, bytes: at - begin, ms: Date.now() - started }, 'snapshot written');
      db.close();
      await this.prune();
      return pointer;
    } finally {
      if (db.open) db.close();
    }
  }

  /** Deletes what the two newest snapshots no longer need (see the top); failures are logged only. */
  private async prune(): Promise<void> {
    if (!this.prunes) return;
    try {
      const kept = (await snapshotsInTail(this.client, this.log)).slice(0, 2);
      if (kept.length < 2) return;
      const { bodies } = snapshotJournals(this.log);
      const logBelow = Math.max(0, Math.min(...kept.map((p) => p.base)) - LOG_TAIL_BYTES);
      const bodiesBelow = Math.min(...kept.map((p) => p.begin));
      const log = await this.client.pruneFragments({ journal: this.log }, false, logBelow);
      const snapshots = await this.client.pruneFragments({ journal: bodies }, false, bodiesBelow);
      if (log.length + snapshots.length > 0) {
        const bytes = (list: { begin: number; end: number }[]) => list.reduce((n, f) => n + f.end - f.begin, 0);
        this.logger({ journal: this.log, below: logBelow, logBytes: bytes(log), snapshotBytes: bytes(snapshots) }, 'pruned what the two newest snapshots no longer need');
      }
    } catch (err) {
      if (err instanceof InletError && err.code === 'FORBIDDEN') this.prunes = false;
      this.logger({ journal: this.log, err: err instanceof Error ? err.message : String(err) }, err instanceof InletError && err.code === 'FORBIDDEN' ? 'cannot prune the recovery log (the token lacks DELETE): it keeps growing' : 'pruning the recovery log failed (retried after the next snapshot)');
    }
  }

  /** Waits for a running snapshot; starts no more. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
  }
}
