import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InletError, storageError } from '../errors.js';
import { fsyncDir, writeFileAtomic } from '../journal/fsutil.js';

/** A client-named producer's last committed transaction: what a retry of it is answered with. */
export interface ClientState {
  readonly id: string;
  readonly producer: string;
  readonly seq: number;
  readonly clock: string;
  readonly response: unknown;
  /** When it committed (ms since the epoch); idle client states expire. */
  readonly at?: number;
}

export type TxnRecord =
  /** The log's identity, made when it is created: producers of another log never collide with this one's. */
  | { op: 'epoch'; epoch: string }
  /** Documents are about to be appended to `journals`; an ACK at `rollback` undoes them. */
  | { op: 'prepare'; txn: string; producer: string; rollback: string; journals: string[] }
  /** The commit point: every document is durable; ACKs at `clock` make them visible. */
  | { op: 'commit'; txn: string; producer: string; clock: string; journals: string[]; client?: ClientState }
  /** Every ACK of the transaction is durable (or the rollback ACKs are). */
  | { op: 'done'; txn: string }
  | { op: 'client'; state: ClientState }
  /** The greatest clock issued so far, kept across compactions and expiry of client states. */
  | { op: 'clock'; clock: string };

type OpenTxn = Extract<TxnRecord, { op: 'prepare' | 'commit' }>;

/** Client producers idle this long are forgotten: a retry after that is a new transaction. */
const CLIENT_TTL_MS = 7 * 24 * 3600 * 1000;

/**
 * The ingest transaction log: one NDJSON record per step, fsync'd in groups. The commit record
 * is a transaction's commit point; a restart rolls back prepared transactions and rolls
 * forward committed ones whose ACKs may be missing. Kept small by rewriting it from its
 * live state (epoch, clock, open transactions, each client producer's last commit) once it has
 * grown to several times that.
 */
export class TxnLog {
  private queue: { rec: TxnRecord; line: string; sync: boolean; resolve(): void; reject(e: unknown): void }[] = [];
  private flushing = false;
  private records = 0;
  private size = 0;
  /** Set when the file can no longer be trusted to take appends; every write then fails. */
  private broken: InletError | undefined;

  private constructor(
    private readonly path: string,
    private fh: FileHandle,
    readonly epoch: string,
    /** Transactions prepared or committed but not done. */
    readonly open: Map<string, OpenTxn>,
    readonly clients: Map<string, ClientState>,
    /** The greatest clock recorded: clocks issued after a restart must exceed it. */
    public maxClock: string,
  ) {}

  static async open(dir: string): Promise<TxnLog> {
    await mkdir(dir, { recursive: true });
    const path = join(dir, 'txn.log');
    const open = new Map<string, OpenTxn>();
    const clients = new Map<string, ClientState>();
    let maxClock = '0000000000000000';
    let epoch: string | undefined;
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const lines = text.split('\n');
    for (const [i, line] of lines.entries()) {
      if (line === '') continue;
      let rec: TxnRecord;
      try {
        rec = JSON.parse(line) as TxnRecord;
      } catch {
        // Only the last line may be torn (a write the crash interrupted); anything else is damage.
        if (i === lines.length - 1) continue;
        throw new InletError('IO_ERROR', `${path}: line ${i + 1} is not a record; the ingest transaction log is damaged`);
      }
      if (rec.op === 'epoch') epoch = rec.epoch;
      apply(rec, open, clients);
      const clock = rec.op === 'commit' || rec.op === 'clock' ? rec.clock : rec.op === 'client' ? rec.state.clock : undefined;
      if (clock !== undefined && clock > maxClock) maxClock = clock;
    }
    const log = new TxnLog(path, await openAppend(path), epoch ?? randomBytes(8).toString('hex'), open, clients, maxClock);
    await log.compact();
    return log;
  }

  /** Appends a record; resolves once it is durable (or written, for `sync: false`). */
  write(rec: TxnRecord, sync = true): Promise<void> {
    if (rec.op === 'commit' && rec.clock > this.maxClock) this.maxClock = rec.clock;
    return new Promise((resolve, reject) => {
      this.queue.push({ rec, line: JSON.stringify(rec) + '\n', sync, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0);
        try {
          if (this.broken) throw this.broken;
          const data = Buffer.from(batch.map((b) => b.line).join(''));
          await this.fh.write(data).then(({ bytesWritten }) => {
            if (bytesWritten !== data.length) throw new Error(`short write: ${bytesWritten} of ${data.length} bytes`);
          });
          if (batch.some((b) => b.sync)) await this.fh.datasync();
          this.size += data.length;
          this.records += batch.length;
          // The in-memory state follows only what is written, so compaction never invents a step.
          for (const b of batch) apply(b.rec, this.open, this.clients);
          for (const b of batch) b.resolve();
        } catch (err) {
          const e = err instanceof InletError ? err : storageError(err, 'writing the ingest transaction log');
          // Cut a partly written batch off, so the next record starts on a line of its own.
          await this.fh.truncate(this.size).catch(() => (this.broken ??= e));
          for (const b of batch) b.reject(e);
        }
        if (this.records > 2 * (this.clients.size + this.open.size) + 10_000 && this.queue.length === 0) {
          await this.compact().catch((err: unknown) => void err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Rewrites the log as its live state; the old file stays in use if anything fails. */
  private async compact(): Promise<void> {
    const now = Date.now();
    for (const [id, st] of this.clients) if (st.at !== undefined && now - st.at > CLIENT_TTL_MS) this.clients.delete(id);
    const lines = [JSON.stringify({ op: 'epoch', epoch: this.epoch }), JSON.stringify({ op: 'clock', clock: this.maxClock })];
    for (const state of this.clients.values()) lines.push(JSON.stringify({ op: 'client', state }));
    for (const rec of this.open.values()) lines.push(JSON.stringify(rec));
    const text = lines.map((l) => l + '\n').join('');
    await writeFileAtomic(this.path, text);
    let fh: FileHandle;
    try {
      fh = await openAppend(this.path);
    } catch (err) {
      // The new file replaced the old: appends to the old handle would be lost.
      this.broken = storageError(err, 'reopening the ingest transaction log');
      throw this.broken;
    }
    await this.fh.close().catch(() => undefined);
    this.fh = fh;
    this.records = lines.length;
    this.size = Buffer.byteLength(text);
  }

  async close(): Promise<void> {
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
    await this.fh.close();
  }
}

function apply(rec: TxnRecord, open: Map<string, OpenTxn>, clients: Map<string, ClientState>): void {
  switch (rec.op) {
    case 'prepare':
    case 'commit':
      open.set(rec.txn, rec);
      if (rec.op === 'commit' && rec.client) clients.set(rec.client.id, rec.client);
      break;
    case 'done':
      open.delete(rec.txn);
      break;
    case 'client':
      clients.set(rec.state.id, rec.state);
      break;
  }
}

async function openAppend(path: string): Promise<FileHandle> {
  const fh = await open(path, 'a');
  await fsyncDir(dirname(path));
  return fh;
}
