import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configSchema, flagName } from '../src/broker/config.js';
import type { Command } from '../src/cli/command.js';
import { inlet } from '../src/cli/commands.js';
import { cleanup, createJournal, readAll, ROOT, runCli, startBroker, type TestBroker } from './helpers/broker.js';

let b: TestBroker;
test.before(async () => {
  b = await startBroker();
});
test.after.always(async () => cleanup(b));

function paths(c: Command, prefix: string[] = []): string[][] {
  const here = c === inlet ? [] : [...prefix, c.name];
  return [here, ...(c.subcommands ?? []).flatMap((s) => paths(s, here))];
}

test('every command and subcommand answers --help (regression: most said Unknown option --help)', async (t) => {
  const all = paths(inlet);
  t.true(all.length > 15);
  const results = await Promise.all(all.map((p) => runCli([...p, '--help'])));
  for (const [i, res] of results.entries()) {
    t.is(res.code, 0, `${all[i]!.join(' ')}: ${res.stderr}`);
    t.true(res.stdout.startsWith(`Usage: ${['inlet', ...all[i]!].join(' ')} `), res.stdout);
  }
});

test('serve --help lists every setting of the config schema with its default (regression: the hand-written help missed four)', async (t) => {
  const res = await runCli(['serve', '--help']);
  t.is(res.code, 0, res.stderr);
  const help = res.stdout.replace(/\n {20,}/g, ' ');
  for (const [key, p] of Object.entries(configSchema.properties) as [string, { default?: unknown }][]) {
    const line = help.split('\n').find((l) => l.includes(`${flagName(key)} `));
    t.truthy(line, `${key} is missing from serve --help`);
    if (p.default !== undefined) t.true(line!.includes(`(default ${String(p.default)})`), line);
  }
});

test('--version prints the package version', async (t) => {
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const res = await runCli(['--version']);
  t.is(res.stdout, `${version}\n`);
});

test('misspelled commands and flags suggest the closest one and exit 2', async (t) => {
  const sub = await runCli(['fragments', 'verfy']);
  t.is(sub.code, 2);
  t.is(sub.stderr, 'inlet: unknown command "fragments verfy" (did you mean "verify"?) (try inlet fragments --help)\n');
  const flag = await runCli(['journals', 'list', '--selektor', 'a=b']);
  t.is(flag.code, 2);
  t.regex(flag.stderr, /^inlet: Unknown option '--selektor' \(did you mean "--selector"\?\)/);
});

test('journals create, describe and delete', async (t) => {
  const created = await runCli(['journals', 'create', 'ops/events', '--content-type', 'application/x-ndjson', '-l', 'team=ops', '-l', 'tier=gold', '--broker', b.url]);
  t.is(created.code, 0, created.stderr);
  t.is(created.stdout, 'created ops/events\n');
  const again = await runCli(['journals', 'create', 'ops/events', '--broker', b.url]);
  t.is(again.code, 1);
  t.regex(again.stderr, /^inlet: journal ops\/events exists/);

  // The last line has no newline: append adds it on an NDJSON journal.
  const app = await runCli(['append', 'ops/events', '--broker', b.url], { input: '{"a":1}\n{"a":2}' });
  t.is(app.code, 0, app.stderr);
  t.is((await readAll(b.url, 'ops/events')).toString(), '{"a":1}\n{"a":2}\n');

  const described = await runCli(['journals', 'describe', 'ops/events', '--json', '--broker', b.url]);
  t.is(described.code, 0, described.stderr);
  const d = JSON.parse(described.stdout) as { spec: { contentType: string; labels: Record<string, string> }; writeHead: number; fragments: { count: number } };
  t.is(d.spec.contentType, 'application/x-ndjson');
  t.like(d.spec.labels, { team: 'ops', tier: 'gold' });
  t.is(d.writeHead, 16);
  t.is(d.fragments.count, 0);
  const text = await runCli(['journals', 'describe', 'ops/events', '--broker', b.url]);
  t.regex(text.stdout, /^write head {4}16$/m);

  const deleted = await runCli(['journals', 'delete', 'ops/events', '--broker', b.url]);
  t.is(deleted.code, 0, deleted.stderr);
  const gone = await runCli(['journals', 'describe', 'ops/events', '--broker', b.url]);
  t.is(gone.code, 1);
  t.is(gone.stderr, 'inlet: journal ops/events does not exist\n');
});

test('a selector that matches nothing says so on stderr, and verify exits 1', async (t) => {
  t.is((await createJournal(b.url, 'sel/one', 'text/plain')).status, 201);
  const list = await runCli(['journals', 'list', '-l', 'nobody=here', '--broker', b.url]);
  t.is(list.code, 0);
  t.is(list.stdout, '');
  t.is(list.stderr, 'inlet: no journal matches "nobody=here"\n');
  for (const sub of ['list', 'prune', 'verify']) {
    const res = await runCli(['fragments', sub, '-l', 'nobody=here', '--broker', b.url]);
    t.is(res.stderr, 'inlet: no journal matches "nobody=here"\n', sub);
    t.is(res.code, sub === 'verify' ? 1 : 0, sub);
  }
});

test('--broker without a scheme says so and exits 2', async (t) => {
  const res = await runCli(['journals', 'list', '--broker', '127.0.0.1:8080']);
  t.is(res.code, 2);
  t.is(res.stderr, 'inlet: --broker: "127.0.0.1:8080" needs a scheme, e.g. http://127.0.0.1:8080\n');
});
