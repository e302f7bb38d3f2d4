import test from 'ava';
import { cp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadCatalog } from '../src/catalog/load.js';
import { ROOT, tempDir } from './helpers/broker.js';

/** A catalog importing the chat example's inputs, with `tests` as given (YAML text). */
async function catalogWithTests(t: { teardown: (fn: () => Promise<void>) => void }, tests: string): Promise<string> {
  const dir = await tempDir('inlet-tests-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const f of ['inputs.flow.yaml', 'inputs.schema.yaml']) await cp(join(ROOT, 'catalog/examples/chat', f), join(dir, f));
  await writeFile(join(dir, 'flow.yaml'), `import: [inputs.flow.yaml]\ntests:\n${tests}`);
  return join(dir, 'flow.yaml');
}

test('tests load as steps in order, YAML anchors and aliases resolved', async (t) => {
  const file = await catalogWithTests(
    t,
    [
      '  "first":',
      '    - ingest: { collection: roomUsers, documents: &users [{ roomId: r1, userId: ann, seenTimestamp: 1 }] }',
      '    - verify: { collection: roomUsers, documents: [{ roomId: r1, userId: ann }, { roomId: r1, userId: bob }] }',
      '  "second":',
      '    - ingest: { collection: roomUsers, documents: *users }',
      '',
    ].join('\n'),
  );
  const catalog = await loadCatalog(file);
  t.deepEqual(catalog.tests.map((x) => x.name), ['first', 'second']);
  const [first, second] = catalog.tests;
  t.regex(first!.file, /flow\.yaml$/);
  t.deepEqual(first!.steps.map((s) => ('ingest' in s ? 'ingest' : 'verify')), ['ingest', 'verify']);
  t.regex(first!.steps[1]!.source, /flow\.yaml:5$/);
  t.deepEqual(second!.steps[0], { ingest: { collection: 'roomUsers', documents: [{ roomId: 'r1', userId: 'ann', seenTimestamp: 1 }] }, source: second!.steps[0]!.source });
});

test('expected documents out of key order are an error at load, naming the document', async (t) => {
  const file = await catalogWithTests(t, '  "order":\n    - verify:\n        collection: roomUsers\n        documents:\n          - { roomId: r2, userId: ann }\n          - { roomId: r1, userId: bob }\n');
  const err = await t.throwsAsync(loadCatalog(file));
  t.regex(err!.message, /flow\.yaml:8 tests\.order\[0\]\.verify\.documents\[1\]: expected documents must be in the order of the key of roomUsers \[\/roomId, \/userId\]/);
});

test('an ingested document its schema refuses is an error at load', async (t) => {
  const file = await catalogWithTests(t, '  "bad":\n    - ingest: { collection: messages, documents: [{ id: m1, roomId: r1, timestamp: soon, senderId: a, content: b }] }\n');
  const err = await t.throwsAsync(loadCatalog(file));
  t.regex(err!.message, /flow\.yaml:4 tests\.bad\[0\]\.ingest\.documents\[0\]: not a valid document of messages: \/timestamp: must be integer/);
});

test('a step naming an unknown collection, or neither ingest nor verify, is an error at load', async (t) => {
  const unknown = await catalogWithTests(t, '  "x":\n    - verify: { collection: nope, documents: [] }\n');
  t.regex((await t.throwsAsync(loadCatalog(unknown)))!.message, /tests\.x\[0\]\.verify\.collection: no collection "nope" in the catalog/);
  const neither = await catalogWithTests(t, '  "y":\n    - wait: { collection: messages }\n');
  t.regex((await t.throwsAsync(loadCatalog(neither)))!.message, /tests\.y\[0\]/);
});
