import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanup, readAll, ROOT, runCli, startBroker, tempDir, type TestBroker } from './helpers/broker.js';

let b: TestBroker;
test.before(async () => {
  b = await startBroker();
});
test.after.always(async () => cleanup(b));

test('journals apply is idempotent, has a dry run, and list filters by selector', async (t) => {
  const file = join(ROOT, 'catalog/journals.yaml');
  const dry = await runCli(['journals', 'apply', '-f', file, '--dry-run', '--broker', b.url]);
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stdout, /\(dry run\) created\s+shipments\/carrier=UPS\/pivot=00/);
  t.is((await runCli(['journals', 'list', '--broker', b.url])).stdout.includes('carrier=UPS'), false);

  const first = await runCli(['journals', 'apply', '-f', file, '--broker', b.url]);
  t.is(first.code, 0, first.stderr);
  t.is(first.stdout.match(/created/g)?.length, 3);
  const again = await runCli(['journals', 'apply', '-f', file, '--broker', b.url]);
  t.is(again.stdout.match(/unchanged/g)?.length, 3);

  const list = await runCli(['journals', 'list', '-l', 'carrier in (UPS,DHL)', '--broker', b.url]);
  t.is(list.code, 0, list.stderr);
  t.regex(list.stdout, /^NAME\s+LABELS\s+WRITE HEAD$/m);
  t.regex(list.stdout, /shipments\/carrier=DHL\/pivot=00\s+app.inlet\/collection=shipments,carrier=DHL\s+0/);
  t.regex(list.stdout, /shipments\/carrier=UPS\/pivot=00/);
  t.notRegex(list.stdout, /FedEx/);
  const notUps = await runCli(['journals', 'list', '-l', 'app.inlet/collection=shipments,carrier!=UPS', '--json', '--broker', b.url]);
  t.deepEqual((JSON.parse(notUps.stdout) as { spec: { name: string } }[]).map((j) => j.spec.name), [
    'shipments/carrier=DHL/pivot=00',
    'shipments/carrier=FedEx/pivot=00',
  ]);
});

test('a bad journals file is refused whole, naming the file and field', async (t) => {
  const dir = await tempDir();
  const file = join(dir, 'bad.yaml');
  await writeFile(file, 'journals:\n  - name: ok/one\n  - name: bad/two\n    fragment: { length: 12 }\n');
  const res = await runCli(['journals', 'apply', '-f', file, '--broker', b.url]);
  t.is(res.code, 2);
  t.is(res.stderr.trim().split('\n').length, 1);
  t.regex(res.stderr, /bad\.yaml: line 3 journals\[1\]\.fragment\.length: must be bytes, or a size like 128MiB \(at least 1KiB\)/);
  t.false((await runCli(['journals', 'list', '--broker', b.url])).stdout.includes('ok/one'));
});

test('append sends stdin in line batches and read prints the bytes back', async (t) => {
  await fetch(`${b.url}/v1/stream/cli/data`, { method: 'PUT', headers: { 'content-type': 'application/x-ndjson' } });
  const input = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ i })).join('\n') + '\n';
  const app = await runCli(['append', 'cli/data', '--batch-size', '8KiB', '--broker', b.url], { input });
  t.is(app.code, 0, app.stderr);
  t.regex(app.stderr, new RegExp(`appended ${input.length} bytes \\(5000 lines\\) in \\d+ appends`));
  t.true(Number(app.stderr.match(/in (\d+) appends/)![1]) > 5);
  const read = await runCli(['read', 'cli/data', '--broker', b.url]);
  t.is(read.code, 0, read.stderr);
  t.is(read.stdout, input);
  const tail = await runCli(['read', 'cli/data', '--offset', String(input.length - 11), '--broker', b.url]);
  t.is(tail.stdout, '{"i":4999}\n');
  t.is((await readAll(b.url, 'cli/data')).toString(), input);
});

test('read --follow tails new appends', async (t) => {
  await fetch(`${b.url}/v1/stream/cli/follow`, { method: 'PUT', headers: { 'content-type': 'text/plain' } });
  const { spawn } = await import('node:child_process');
  const proc = spawn(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'read', 'cli/follow', '--follow', '--broker', b.url]);
  let out = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise((r) => setTimeout(r, 300));
  await fetch(`${b.url}/v1/stream/cli/follow`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'live!' });
  while (!out.includes('live!')) await new Promise((r) => setTimeout(r, 10));
  proc.kill('SIGINT');
  t.is(out, 'live!');
});

test('bad flags and config exit 2 with one line naming the field', async (t) => {
  const dir = await tempDir();
  const cases: [string[], RegExp, NodeJS.ProcessEnv?][] = [
    [['serve', '--port', '99999', '--data-dir', dir], /^inlet: --port: must be <= 65535/],
    [['serve', '--compression', 'lz4', '--data-dir', dir], /^inlet: --compression: must be one of "gzip", "zstd", "none"/],
    [['serve', '--frobnicate'], /^inlet: Unknown option '--frobnicate'/],
    [['serve', '--data-dir', dir], /^inlet: INLET_FLUSH_INTERVAL: must match pattern/, { INLET_FLUSH_INTERVAL: 'soon' }],
    [['journals', 'list', '-l', 'a in (b'], /^inlet: label selector "a in \(b": cannot parse/],
    [['read', 'x', '--offset', 'yesterday'], /^inlet: --offset: invalid offset "yesterday"/],
    [['nonsense'], /^inlet: unknown command "nonsense"/],
  ];
  for (const [args, re, env] of cases) {
    const res = await runCli(args, { env });
    t.is(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
    t.regex(res.stderr, re);
    t.is(res.stderr.trim().split('\n').length, 1, res.stderr);
  }
  const cfg = join(dir, 'inlet.yaml');
  await writeFile(cfg, 'port: 8080\nfragmentLenght: 1MiB\n');
  const res = await runCli(['serve', '--config', cfg]);
  t.is(res.code, 2);
  t.regex(res.stderr, /inlet\.yaml:2 fragmentLenght: unknown field/);
});

test('serve reads a YAML config file, with flags taking precedence', async (t) => {
  const dir = await tempDir();
  const cfg = join(dir, 'inlet.yaml');
  await writeFile(cfg, `dataDir: ${join(dir, 'from-config')}\nmaxAppendSize: 1KiB\nport: 1\n`);
  const broker = await startBroker({ dataDir: join(dir, 'from-flag'), args: ['--config', cfg] });
  try {
    await fetch(`${broker.url}/v1/stream/cfg/j`, { method: 'PUT' });
    const res = await fetch(`${broker.url}/v1/stream/cfg/j`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(2048) });
    t.is(res.status, 413);
    t.regex(broker.url, /:\d{4,5}$/); // --port 0 beat the file's port 1
  } finally {
    await cleanup(broker);
  }
});
