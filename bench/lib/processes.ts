import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** A server process the bench started, with its peak RSS. */
export interface Server {
  readonly url: string;
  readonly proc: ChildProcess;
  peakRssMiB(): number;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function wrap(proc: ChildProcess, url: string): Server {
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  let peak = 0;
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
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

export async function startInlet(dataDir: string, args: string[] = []): Promise<Server> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c;
      const m = out.match(/listening on (\S+)/);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`inlet exited ${code}`)));
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

async function waitForPort(port: number, proc: ChildProcess, name: string): Promise<void> {
  const { connect } = await import('node:net');
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`${name} exited (${proc.exitCode})`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      }).on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not listen on ${port}`);
}

/** nats-server with JetStream on file storage in `dir`. */
export async function startNats(dir: string): Promise<Server> {
  const port = await freePort();
  const proc = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' });
  await waitForPort(port, proc, 'nats-server');
  return wrap(proc, `nats://127.0.0.1:${port}`);
}

/** redis-server with an append-only file fsync'd every second (its durable setting for throughput), in `dir`. */
export async function startRedis(dir: string): Promise<Server> {
  const port = await freePort();
  const proc = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''], { stdio: 'ignore' });
  await waitForPort(port, proc, 'redis-server');
  return wrap(proc, `redis://127.0.0.1:${port}`);
}
