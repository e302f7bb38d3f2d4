import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'dist/src/cli/main.js');

export interface TestBroker {
  url: string;
  dataDir: string;
  proc: ChildProcess;
  /** stderr so far (logs), for assertions and failure messages. */
  logs(): string;
  /** Sends a signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** A fresh temporary data dir, removed by the caller via `rm`. */
export function tempDir(prefix = 'inlet-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Runs `fn` with a fresh temporary dir, removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await tempDir();
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Starts `inlet serve` as a child process on a free port and waits until it listens. */
export async function startBroker(opts: { dataDir?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<TestBroker> {
  const dataDir = opts.dataDir ?? (await tempDir());
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`broker exited (${code}) before listening:\n${err}`)));
  });
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  return {
    url,
    dataDir,
    proc,
    logs: () => err,
    stop: (signal: NodeJS.Signals = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Runs the `inlet` CLI to completion. */
export function runCli(args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // 'close', not 'exit': the process may exit before its stdout and stderr are read.
    proc.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    proc.stdin.end(opts.input ?? '');
  });
}

export async function cleanup(b: TestBroker): Promise<void> {
  await b.stop('SIGKILL');
  await rm(b.dataDir, { recursive: true, force: true });
}

/** PUT a journal with a content type; returns the response. */
/** The stream URL of a journal, its name's segments percent-encoded (names may hold `%`). */
export function streamUrl(url: string, name: string): string {
  return `${url}/v1/stream/${name.split('/').map(encodeURIComponent).join('/')}`;
}

export function createJournal(url: string, name: string, contentType = 'application/octet-stream', headers: Record<string, string> = {}): Promise<Response> {
  return fetch(streamUrl(url, name), { method: 'PUT', headers: { 'content-type': contentType, ...headers } });
}

export async function appendTo(url: string, name: string, body: string | Buffer, contentType = 'application/octet-stream', headers: Record<string, string> = {}): Promise<Response> {
  return fetch(streamUrl(url, name), { method: 'POST', headers: { 'content-type': contentType, ...headers }, body });
}

/** Reads a journal from the beginning to its write head, following pagination. */
export async function readAll(url: string, name: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let offset = '-1';
  for (;;) {
    const res = await fetch(`${streamUrl(url, name)}?offset=${offset}`);
    if (res.status !== 200) throw new Error(`read ${name}: HTTP ${res.status} ${await res.text()}`);
    parts.push(Buffer.from(await res.arrayBuffer()));
    offset = res.headers.get('stream-next-offset')!;
    if (res.headers.get('stream-up-to-date') === 'true') return Buffer.concat(parts);
  }
}
