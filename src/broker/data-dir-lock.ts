import { createHash } from 'node:crypto';
import { mkdir, realpath, rm } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { InletError } from '../errors.js';

/**
 * An exclusive, OS-level lock on a data dir: two brokers writing the same spools lose
 * acknowledged appends (one uploads and deletes what the other is still writing).
 *
 * The lock is a listening Unix socket. On Linux it lives in the abstract namespace, named by a
 * hash of the dir's real path: the kernel frees it when the process dies, even by SIGKILL, so no
 * stale lock can block a restart. Elsewhere it is a socket file in the data dir, taken as stale
 * when nothing accepts a connection on it. Either way the holder answers its PID to whoever
 * connects, so the broker refused can name it.
 */
export class DataDirLock {
  private constructor(
    private readonly server: Server,
    private readonly file: string | undefined,
  ) {}

  /**
   * Creates the dir if needed and takes its lock.
   * @throws InletError `DATA_DIR_LOCKED` naming the dir and the holder's PID when another process holds it;
   *   `IO_ERROR` when the dir cannot be created.
   */
  static async acquire(dataDir: string): Promise<DataDirLock> {
    try {
      await mkdir(dataDir, { recursive: true });
    } catch (err) {
      throw new InletError('IO_ERROR', `cannot create data dir ${dataDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    const dir = await realpath(dataDir);
    const abstract = process.platform === 'linux';
    const path = abstract ? `\0inlet-lock-${createHash('sha1').update(dir).digest('hex')}` : join(dir, '.inlet.lock');
    for (let attempt = 0; ; attempt++) {
      try {
        return new DataDirLock(await listen(path), abstract ? undefined : path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        const holder = await askHolder(path);
        if (holder === undefined && !abstract && attempt === 0) {
          // A socket file nobody answers on was left by a dead broker.
          await rm(path, { force: true });
          continue;
        }
        throw new InletError('DATA_DIR_LOCKED', `data dir ${dir} is in use by another broker (pid ${holder ?? 'unknown'}); stop it or give this one another --data-dir`);
      }
    }
  }

  /** Frees the lock; a later broker on the dir then starts. */
  async release(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.file) await rm(this.file, { force: true });
  }
}

function listen(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.end(`${process.pid}\n`));
    server.once('error', reject);
    server.listen({ path, exclusive: true }, () => {
      server.off('error', reject);
      // The lock must not keep an otherwise finished process alive.
      server.unref();
      resolve(server);
    });
  });
}

/** The PID the holder answers, or undefined when nobody answers (a stale socket file). */
function askHolder(path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect({ path });
    socket.setTimeout(2000, () => socket.destroy());
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    socket.on('error', () => resolve(undefined));
    socket.on('close', () => resolve(answer.trim() || undefined));
  });
}
