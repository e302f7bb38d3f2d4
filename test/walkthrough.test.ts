import test from 'ava';
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { ensureDebianPackage } from '../bench/lib/processes.js';
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

/** Whether any process of the group `pgid` is still alive. */
function processGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
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
  const groupAlive = () => processGroupAlive(broker.pid!);
  for (let i = 0; i < 200 && groupAlive(); i++) await new Promise((r) => setTimeout(r, 100));
  t.false(groupAlive(), 'the broker exited after Ctrl-C');
});

/** Runs a shell block to completion. */
function sh(script: string, opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn('bash', ['-c', `set -e\n${script}`], { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true))).on('error', () => resolve(false));
  });
}

/** A block's commands, and the output its `# ` comment lines show, as lines without trailing blanks. */
function commandAndOutput(text: string): { script: string; expected: string[] } {
  const lines = text.split('\n');
  return {
    script: lines.filter((l) => !l.startsWith('#')).join('\n'),
    expected: lines.filter((l) => l.startsWith('# ')).map((l) => l.slice(2).trimEnd()),
  };
}

test("the README's chat demo runs as written: develop starts PostgreSQL, and psql prints 2 unread rooms, then 1", async (t) => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  t.true(ensureDebianPackage('/usr/bin/psql', 'postgresql-client'), 'the demo needs psql (apt-get install postgresql-client)');
  t.false(await listening(5432), 'the demo starts PostgreSQL on the endpoint port 5432, where something else listens');
  const chat = join(ROOT, 'catalog/examples/chat');
  const data = join(chat, 'data');
  await rm(data, { recursive: true, force: true });
  t.teardown(() => rm(data, { recursive: true, force: true }));
  // The demo is written for port 8080; the test takes a free one so it can run beside others.
  const port = await freePort();
  const onPort = (block: string) => block.replaceAll('localhost:8080', `localhost:${port}`);
  const env = { ...process.env, INLET_PORT: String(port) };

  // Terminal 1: develop, in a process group of its own so Ctrl-C (SIGINT to the group) reaches it through npx.
  const dev = spawn('bash', ['-c', block(readme, 'chat-develop')], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let devOut = '';
  dev.stdout.on('data', (c: Buffer) => (devOut += c.toString()));
  dev.stderr.on('data', (c: Buffer) => (devOut += c.toString()));
  const devExit = new Promise<number | string>((resolve) => dev.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const groupAlive = () => processGroupAlive(dev.pid!);
  t.teardown(() => {
    if (groupAlive()) process.kill(-dev.pid!, 'SIGKILL');
  });
  const started = Date.now();
  while (!devOut.includes('listening on') && dev.exitCode === null && Date.now() - started < 90_000) await new Promise((r) => setTimeout(r, 50));
  t.regex(devOut, /postgres demo\/database: started a new PostgreSQL on localhost:5432 \(pid \d+, data (\S+)\); connect: psql -h localhost -U flow flow/, devOut);
  const cluster = devOut.match(/data (\S+)\); connect/)![1]!;
  if (!cluster.startsWith(data)) t.teardown(() => rm(cluster, { recursive: true, force: true }));
  t.regex(devOut, /derivation userDetails: from messages \(fromMessages\), roomUsers \(fromRoomUsers\)/);
  t.regex(devOut, /materialization demo\/database\/user_details: userDetails kept as table user_details/);

  // Terminal 2, as written. Each query runs until it prints what the README shows: the view
  // follows the ingest within milliseconds, not within the curl.
  const shell = { cwd: ROOT, env: { ...process.env } };
  const queryUntil = async (marker: string, exports: string) => {
    const { script, expected } = commandAndOutput(block(readme, marker));
    t.true(expected.length > 0, `${marker} shows its output`);
    let last = '';
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      const r = await sh(`${exports}\n${script}`, shell);
      const lines = r.stdout.split('\n').map((l) => l.trimEnd());
      while (lines.length > 0 && lines.at(-1) === '') lines.pop();
      last = `${r.stdout}${r.stderr}`;
      if (r.code === 0 && JSON.stringify(lines) === JSON.stringify(expected)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    t.fail(`${marker}: psql printed\n${last}\ninstead of\n${expected.join('\n')}\ndevelop:\n${devOut}`);
  };
  const first = await sh(onPort(block(readme, 'chat-ingest-1')), shell);
  t.is(first.code, 0, `${first.stdout}${first.stderr}`);
  t.regex(first.stdout, /"received":5,"stored":5/);
  await queryUntil('chat-query-1', '');
  // The first query block exported the endpoint's credentials for the terminal that follows.
  const exports = commandAndOutput(block(readme, 'chat-query-1')).script.split('\n').filter((l) => l.startsWith('export ')).join('\n');
  const second = await sh(onPort(block(readme, 'chat-ingest-2')), shell);
  t.is(second.code, 0, `${second.stdout}${second.stderr}`);
  await queryUntil('chat-query-2', exports);

  // Ctrl-C: develop, its PostgreSQL and npx stop, leaving no process behind.
  process.kill(-dev.pid!, 'SIGINT');
  t.true([0, 'SIGINT'].includes(await devExit), devOut);
  for (let i = 0; i < 200 && groupAlive(); i++) await new Promise((r) => setTimeout(r, 100));
  t.false(groupAlive(), 'develop exited after Ctrl-C');
  t.false(await listening(5432), 'PostgreSQL stopped with develop');
});
