import test from 'ava';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, runCli, tempDir } from './helpers/broker.js';

const CHAT = join(ROOT, 'catalog/examples/chat');

/** The chat example's inputs with `tests` of their own (no derivations): a catalog `inlet test` runs without lambdas. */
async function inputsWithTests(t: { teardown: (fn: () => Promise<void>) => void }, tests: string): Promise<string> {
  const dir = await tempDir('inlet-cli-test-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const f of ['inputs.flow.yaml', 'inputs.schema.yaml']) await cp(join(CHAT, f), join(dir, f));
  await writeFile(join(dir, 'flow.yaml'), `import: [inputs.flow.yaml]\ntests:\n${tests}`);
  return join(dir, 'flow.yaml');
}

/** A copy of the chat example to break on purpose: its folder and its TypeScript module. */
async function chatCopy(t: { teardown: (fn: () => Promise<void>) => void }): Promise<{ dir: string; module: string }> {
  const dir = await tempDir('inlet-chat-test-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(CHAT, dir, { recursive: true, filter: (src) => !src.includes('inlet_generated') });
  return { dir, module: join(dir, 'userDetails.flow.ts') };
}

const TESTS = [
  '  "edits replace messages":',
  '    - ingest: { collection: messages, documents: [{ id: m1, roomId: r1, senderId: a, timestamp: 1, content: hi }, { id: m2, roomId: r1, senderId: a, timestamp: 2, content: yo }] }',
  '    - ingest: { collection: messages, documents: [{ id: m1, roomId: r1, senderId: a, timestamp: 3, content: edited }] }',
  '    - verify: { collection: messages, documents: [{ id: m1, content: edited }, { id: m2, timestamp: 2 }] }',
  '  "each test starts empty":',
  '    - verify: { collection: messages, documents: [] }',
  '  "a wrong expectation":',
  '    - ingest: { collection: messages, documents: [{ id: m1, roomId: r1, senderId: a, timestamp: 1, content: hi }] }',
  '    - verify: { collection: messages, documents: [{ id: m1, content: bye, timestamp: 1 }, { id: m3 }] }',
  '',
].join('\n');

test('inlet test reports each test as Flow does, with a diff for the failure, and exits 1', async (t) => {
  const file = await inputsWithTests(t, TESTS);
  const tmp = await tempDir('inlet-cli-tmp-');
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const res = await runCli(['test', '--source', file], { env: { TMPDIR: tmp } });
  t.is(res.code, 1, res.stderr);
  const lines = res.stdout.split('\n');
  t.is(lines[0], 'Running  3  tests...');
  t.regex(res.stdout, /^✔️ .*flow\.yaml :: edits replace messages$/m);
  t.regex(res.stdout, /^✔️ .*flow\.yaml :: each test starts empty$/m);
  t.regex(res.stdout, /^❌ .*flow\.yaml :: a wrong expectation failure at step 2 \(verify messages, .*flow\.yaml:11\):$/m);
  t.regex(res.stdout, /^ {3}expected 2 documents, actual 1 document$/m);
  t.regex(res.stdout, /^ {3}actual and expected documents don't match at index 0: \/content: expected "bye", actual "hi"$/m);
  t.regex(res.stdout, /^ {3}missing document at index 1: expected \{"id":"m3"\}$/m);
  t.regex(res.stdout, /^Ran 3 tests, 2 passed, 1 failed$/m);
  t.deepEqual(await readdir(tmp), [], 'no broker data or build is left behind');
});

test('--filter runs only the tests whose name matches, and a passing run exits 0', async (t) => {
  const file = await inputsWithTests(t, TESTS);
  const res = await runCli(['test', '--source', file, '--filter', '^e']);
  t.is(res.code, 0, res.stdout + res.stderr);
  t.regex(res.stdout, /Running {2}2 {2}tests\.\.\.\n/);
  t.regex(res.stdout, /Ran 2 tests, 2 passed, 0 failed/);
});

test('inlet test on the chat example fails with a clear diff when a lambda is broken on purpose', async (t) => {
  const { dir, module } = await chatCopy(t);
  // Broken: a room that turns unread counts twice.
  await writeFile(module, (await readFile(module, 'utf8')).replace('numUnreadRooms: b ? 1 : -1', 'numUnreadRooms: b ? 2 : -1'));
  const bad = await runCli(['test', '--source', join(dir, 'userDetails.flow.yaml'), '--filter', 'sent and seen']);
  t.is(bad.code, 1, bad.stdout + bad.stderr);
  t.regex(bad.stdout, /❌ .*userDetails\.flow\.yaml :: Messages sent and seen failure at step 3 \(verify userDetails, .*\):\n {3}actual and expected documents don't match at index 0: \/numUnreadRooms: expected 2, actual 4/);
  t.regex(bad.stdout, /Ran 1 tests, 0 passed, 1 failed/);
});

test("a lambda that throws fails its test with the error and a stack at the line of the catalog's TypeScript module", async (t) => {
  const { dir, module } = await chatCopy(t);
  const source = await readFile(module, 'utf8');
  const anchor = '        const seenTimestamp = source.delete ? LEFT_ROOM : (source.seenTimestamp ?? 0);\n';
  t.true(source.includes(anchor));
  const broken = source.replace(anchor, `${anchor}        if (seenTimestamp > 1400) throw new Error('a view newer than 1400');\n`);
  await writeFile(module, broken);
  const line = broken.split('\n').findIndex((l) => l.includes('a view newer than 1400')) + 1;
  const bad = await runCli(['test', '--source', join(dir, 'userDetails.flow.yaml'), '--filter', 'sent and seen']);
  t.is(bad.code, 1, bad.stdout + bad.stderr);
  t.regex(bad.stdout, /document roomUsers\/pivot=00@\d+: fromRoomUsersUpdate: a view newer than 1400\n {3}Error: a view newer than 1400\n {7}at UserDetails\.fromRoomUsersUpdate \(.*userDetails\.flow\.ts:(\d+):\d+\)/);
  t.is(Number(bad.stdout.match(/userDetails\.flow\.ts:(\d+):\d+\)/)![1]), line);
});
