import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
/** How long a server may take to exit after `stop`'s signal before it is killed. */
const STOP_GRACE_MS = 30_000;

/** A server process the bench started, with its peak RSS. */
export interface Server {
  readonly url: string;
  readonly proc: ChildProcess;
  peakRssMiB(): number;
  /** Sends `signal`, and SIGKILL if the process has not exited `graceMs` later; resolves once it exited. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

// Everything the bench spawned or created and has not cleaned up yet. Whatever way the bench
// ends (done, an exception, Ctrl-C, a `kill`), the exit hook kills these processes and removes
// these folders, so no peer or broker outlives a run.
const live = new Set<ChildProcess>();
const scratch = new Set<string>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const p of live) p.kill('SIGKILL');
    for (const d of scratch) rmSync(d, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      console.error(`bench: ${sig}: stopping ${live.size} server(s)`);
      process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const)[sig]);
    });
  }
}

export function track(proc: ChildProcess): ChildProcess {
  hookExit();
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  return proc;
}

/** The servers running right now (for killing those a timed-out run left behind). */
export function liveServers(): ReadonlySet<ChildProcess> {
  return live;
}

/** A fresh folder under the system's temp dir, removed when the bench exits if not before. */
export async function scratchDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  hookExit();
  const path = await mkdtemp(join(tmpdir(), prefix));
  scratch.add(path);
  return {
    path,
    remove: async () => {
      await rm(path, { recursive: true, force: true });
      scratch.delete(path);
    },
  };
}

export function wrap(proc: ChildProcess, url: string): Server {
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  let peak = 0;
  const running = () => proc.exitCode === null && proc.signalCode === null;
  return {
    url,
    proc,
    peakRssMiB: () => {
      try {
        peak = Math.max(peak, Number(readFileSync(`/proc/${proc.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/)![1]) / 1024);
      } catch {
        // exited: keep the last reading
      }
      return peak;
    },
    stop: async (signal = 'SIGTERM', graceMs = STOP_GRACE_MS) => {
      if (!running()) return;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** An inlet broker (`inlet serve`) on a free port over `dataDir`, with extra CLI `args`. */
export function startInlet(dataDir: string, args: string[] = []): Promise<Server> {
  return startNodeServer('inlet', [CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...args]);
}

/** A Node server (`node …args`) that prints `listening on URL` once it serves. */
export async function startNodeServer(name: string, args: string[]): Promise<Server> {
  const proc = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c;
      const m = out.match(/listening on (\S+)/);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`${name} exited ${code}`)));
  });
  return wrap(proc, url);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Installs a peer from Debian's packages when it is missing (the bench runs as root on the
 * project's machines); returns false, with the reason printed, when that is not possible.
 */
export function ensureDebianPackage(binary: string, pkg: string): boolean {
  if (existsSync(binary)) return true;
  try {
    console.error(`bench: installing ${pkg} from Debian's packages…`);
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'ignore' });
    return existsSync(binary);
  } catch {
    try {
      execFileSync('apt-get', ['update'], { stdio: 'ignore' });
      execFileSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'ignore' });
      return existsSync(binary);
    } catch (err) {
      console.error(`bench: cannot install ${pkg}: ${(err as Error).message.split('\n')[0]}; skipping it`);
      return false;
    }
  }
}

async function waitForPort(port: number, server: Server, name: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (server.proc.exitCode !== null) throw new Error(`${name} exited (${server.proc.exitCode})`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      }).on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  await server.stop('SIGKILL');
  throw new Error(`${name} did not listen on ${port}`);
}

/** nats-server with JetStream on file storage in `dir`. */
export async function startNats(dir: string): Promise<Server> {
  const port = await freePort();
  const server = wrap(track(spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' })), `nats://127.0.0.1:${port}`);
  await waitForPort(port, server, 'nats-server');
  return server;
}

/** redis-server with an append-only file fsync'd every second (its durable setting for throughput), in `dir`. */
export async function startRedis(dir: string): Promise<Server> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''];
  const server = wrap(track(spawn('/usr/bin/redis-server', args, { stdio: 'ignore' })), `redis://127.0.0.1:${port}`);
  await waitForPort(port, server, 'redis-server');
  return server;
}
