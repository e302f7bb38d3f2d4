import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { storageError } from '../errors.js';
import { fsyncDir, writeFileAtomic } from '../journal/fsutil.js';

/** A client-named producer's last committed transaction: what a retry of it is answered with. */
export interface ClientState {
  readonly id: string;
  readonly producer: string;
  readonly seq: number;
  readonly clock: string;
  readonly response: unknown;
}

export type TxnRecord =
  /** Documents are about to be appended to `journals`; an ACK at `rollback` undoes them. */
  | { op: 'prepare'; txn: string; producer: string; rollback: string; journals: string[] }
  /** The commit point: every document is durable; ACKs at `clock` make them visible. */
  | { op: 'commit'; txn: string; producer: string; clock: string; journals: string[]; client?: ClientState }
  /** Every ACK of the transaction is durable (or the rollback ACKs are). */
  | { op: 'done'; txn: string }
  | { op: 'client'; state: ClientState };

type OpenTxn = Extract<TxnRecord, { op: 'prepare' | 'commit' }>;

/**
 * The ingest transaction log: one NDJSON record per step, fsync'd in groups. The commit record
 * is a transaction's commit point; a restart rolls back prepared transactions and rolls
 * forward committed ones whose ACKs may be missing. Kept small by rewriting it from its
 * live state: open transactions and each client producer's last commit.
 */
export class TxnLog {
  private queue: { rec: TxnRecord; line: string; sync: boolean; resolve(): void; reject(e: unknown): void }[] = [];
  private flushing = false;
  private records = 0;

  private constructor(
    private readonly path: string,
    private fh: FileHandle,
    /** Transactions prepared or committed but not done. */
    readonly open: Map<string, OpenTxn>,
    readonly clients: Map<string, ClientState>,
    /** The greatest clock recorded: clocks issued after a restart must exceed it. */
    readonly maxClock: string,
  ) {}

  static async open(dir: string): Promise<TxnLog> {
    await mkdir(dir, { recursive: true });
    const path = join(dir, 'txn.log');
    const open = new Map<string, OpenTxn>();
    const clients = new Map<string, ClientState>();
    let maxClock = '0000000000000000';
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      let rec: TxnRecord;
      try {
        rec = JSON.parse(line) as TxnRecord;
      } catch {
        continue; // a torn last line: that step never completed
      }
      apply(rec, open, clients);
      const clock = rec.op === 'commit' ? rec.clock : rec.op === 'client' ? rec.state.clock : undefined;
      if (clock !== undefined && clock > maxClock) maxClock = clock;
    }
    const log = new TxnLog(path, await openAppend(path), open, clients, maxClock);
    await log.compact();
    return log;
  }

  /** Appends a record; resolves once it is durable (or written, for `sync: false`). */
  write(rec: TxnRecord, sync = true): Promise<void> {
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
          await this.fh.write(batch.map((b) => b.line).join(''));
          if (batch.some((b) => b.sync)) await this.fh.datasync();
          this.records += batch.length;
          // The in-memory state follows only what is written, so compaction never invents a step.
          for (const b of batch) apply(b.rec, this.open, this.clients);
          for (const b of batch) b.resolve();
        } catch (err) {
          const e = storageError(err, 'writing the ingest transaction log');
          for (const b of batch) b.reject(e);
        }
        if (this.records > 10_000 && this.queue.length === 0) await this.compact().catch(() => undefined);
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Rewrites the log as its live state. */
  private async compact(): Promise<void> {
    const lines: string[] = [];
    for (const state of this.clients.values()) lines.push(JSON.stringify({ op: 'client', state }));
    for (const rec of this.open.values()) lines.push(JSON.stringify(rec));
    await this.fh.close();
    await writeFileAtomic(this.path, lines.map((l) => l + '\n').join(''));
    this.fh = await openAppend(this.path);
    this.records = lines.length;
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
  await fsyncDir(join(path, '..'));
  return fh;
}
