import test from 'ava';
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ROOT } from './helpers/broker.js';

/** A port free right now, for a walkthrough written for the default port. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

function block(readme: string, marker: string): string {
  const m = readme.match(new RegExp(`<!-- walkthrough:${marker} -->\\n\`\`\`sh\\n([\\s\\S]*?)\`\`\``));
  if (!m) throw new Error(`README has no walkthrough:${marker} block`);
  return m[1]!;
}

test("the README's collections walkthrough runs as written and its query counts the generated documents", async (t) => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  // It runs where a user would, in the clone: its data dir (demo/, git-ignored) is removed before and after.
  const demo = join(ROOT, 'demo');
  await rm(demo, { recursive: true, force: true });
  t.teardown(() => rm(demo, { recursive: true, force: true }));
  const port = await freePort();
  const env = { ...process.env, INLET_PORT: String(port), INLET_BROKER: `http://127.0.0.1:${port}` };

  // Terminal 1: the broker, in a process group of its own so Ctrl-C (SIGINT to the group) reaches it through npx.
  const broker = spawn('bash', ['-c', block(readme, 'broker')], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let brokerOut = '';
  broker.stdout.on('data', (c: Buffer) => (brokerOut += c.toString()));
  broker.stderr.on('data', (c: Buffer) => (brokerOut += c.toString()));
  const brokerExit = new Promise<number | string>((resolve) => broker.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  t.teardown(() => {
    try {
      process.kill(-broker.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  const started = Date.now();
  while (!brokerOut.includes('listening on') && broker.exitCode === null && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 50));
  t.regex(brokerOut, /collection shipments: key \[\/id\], partitioned by carrier/);

  // Terminal 2: the rest, as written.
  const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const proc = spawn('bash', ['-c', `set -e\n${block(readme, 'begin')}`], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
  t.is(run.code, 0, `${run.stdout}\n${run.stderr}`);
  t.regex(run.stdout, /^shipments {2}\(catalog\/shipments\.flow\.yaml:\d+\)/m);
  t.regex(run.stderr, /ingested 10000 documents/);

  // The three documents read back are UPS shipments.
  const docs = run.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { vendor: { name: string } });
  t.is(docs.length, 3);
  t.true(docs.every((d) => d.vendor.name === 'UPS'));

  // The query's table: rows per carrier (and day), summing to what was stored after combining.
  const stored = Number(run.stderr.match(/\((\d+) after combining by key\)/)![1]);
  const rows = run.stdout.split('\n').filter((l) => /^(UPS|FedEx|DHL|USPS)\s/.test(l)).map((l) => l.trim().split(/\s+/));
  t.deepEqual([...new Set(rows.map((r) => r[0]))].sort(), ['DHL', 'FedEx', 'UPS', 'USPS']);
  t.is(rows.reduce((n, r) => n + Number(r[2]), 0), stored);
  t.true(stored < 10_000, 'documents with equal keys within a transaction combined');

  // Ctrl-C: npx and the broker stop, leaving no process behind.
  process.kill(-broker.pid!, 'SIGINT');
  t.true([0, 'SIGINT'].includes(await brokerExit), brokerOut);
  const groupAlive = () => {
    try {
      process.kill(-broker.pid!, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 200 && groupAlive(); i++) await new Promise((r) => setTimeout(r, 100));
  t.false(groupAlive(), 'the broker exited after Ctrl-C');
});
