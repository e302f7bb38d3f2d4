import test from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { committedDocs, ingest } from './helpers/collections.js';
import { CLI, cleanup, ROOT, runCli, startBroker, type TestBroker } from './helpers/broker.js';

const CATALOG = join(ROOT, 'test/fixtures/ingest/orders.flow.yaml');
const N = 3000;
const lines = Array.from({ length: N }, (_, i) => JSON.stringify({ id: i, region: 'r', rush: false, shard: i % 3 }) + '\n');

const committedIds = async (b: TestBroker) => (await committedDocs<{ id: number }>(b, 'acme/orders')).map((d) => d.id);

async function until(cond: () => Promise<boolean>): Promise<void> {
  while (!(await cond())) await new Promise((r) => setTimeout(r, 50));
}

/** `inlet ingest --producer` fed `input`, SIGKILLed once `killWhen` holds; stdin stays open until then. */
async function killedLoad(b: TestBroker, input: string, killWhen: () => Promise<boolean>): Promise<void> {
  const proc = spawn(process.execPath, [CLI, 'ingest', 'acme/orders', '--producer', 'nightly-load', '--batch', '100', '--broker', b.url], { stdio: ['pipe', 'ignore', 'ignore'] });
  const exited = new Promise((r) => proc.once('exit', (code, sig) => r(sig ?? code)));
  proc.stdin.on('error', () => undefined);
  proc.stdin.write(input);
  await until(killWhen);
  proc.kill('SIGKILL');
  await exited;
}

test('inlet ingest --producer rerun after a SIGKILL mid-load writes every document exactly once (regression: a rerun duplicated the committed part)', async (t) => {
  const b = await startBroker({ args: ['--catalog', CATALOG] });
  t.teardown(() => cleanup(b));
  // Killed with ten transactions committed and half a batch read but not sent.
  await killedLoad(b, lines.slice(0, 1050).join(''), async () => (await committedIds(b)).length >= 1000);
  t.is((await committedIds(b)).length, 1000);
  // Rerun with all the input, killed somewhere past what the first run committed (perhaps mid-transaction).
  await killedLoad(b, lines.join(''), async () => (await committedIds(b)).length > 1000);
  const rerun = await runCli(['ingest', 'acme/orders', '--producer', 'nightly-load', '--batch', '100', '--broker', b.url], { input: lines.join('') });
  t.is(rerun.code, 0, rerun.stderr);
  t.regex(rerun.stderr, /^ingested 3000 documents .*in 30 transactions .*; skipped (\d+) documents an earlier run of producer nightly-load committed/);
  const skipped = Number(rerun.stderr.match(/skipped (\d+) documents/)![1]);
  t.true(skipped > 1000 && skipped % 100 === 0, String(skipped));
  const ids = (await committedIds(b)).sort((x, y) => x - y);
  t.deepEqual(ids, Array.from({ length: N }, (_, i) => i));
});

test('an interrupted load says what it committed and how to resume', async (t) => {
  const b = await startBroker({ args: ['--catalog', CATALOG] });
  t.teardown(() => cleanup(b));
  const input = lines.slice(0, 250).join('') + 'not json\n' + lines.slice(250).join('');
  const res = await runCli(['ingest', 'acme/orders', '--batch', '100', '--broker', b.url], { input });
  t.is(res.code, 1);
  const [error, note] = res.stderr.split('\n');
  t.regex(error!, /^inlet: line 251: not JSON: /);
  t.is(
    note,
    `committed: input lines 1-200 (200 documents, ${lines.slice(0, 200).join('').length} bytes); resume with the input from line 201 on, e.g. tail -n +201 FILE | inlet ingest acme/orders (or name the load with --producer ID next time, and rerun it as is)`,
  );
  t.is((await committedIds(b)).length, 200);
});

test('/ingest given NDJSON says it takes one JSON object', async (t) => {
  const b = await startBroker({ args: ['--catalog', CATALOG] });
  t.teardown(() => cleanup(b));
  const res = await ingest(b, lines.slice(0, 2).join(''));
  t.is(res.status, 400);
  const { error } = (await res.json()) as { error: { code: string; message: string } };
  t.is(error.code, 'BAD_REQUEST');
  t.regex(error.message, /\/ingest takes one JSON object \{"<collection>": \[documents…\]\} \(it looks like NDJSON/);
});
