import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { loadCatalog } from '../src/catalog/load.js';
import { InletError } from '../src/errors.js';
import { tempDir } from './helpers/broker.js';

const SOURCES = `
collections:
  acme/messages:
    key: [/id]
    schema: { type: object, required: [id, roomId], properties: { id: { type: integer }, roomId: { type: string }, n: { type: integer } } }
  acme/rooms:
    key: [/roomId]
    schema: { type: object, required: [roomId], properties: { roomId: { type: integer } } }
`;

async function write(t: ExecutionContext, yaml: string): Promise<string> {
  const dir = await tempDir('inlet-derive-catalog-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'c.flow.yaml'), SOURCES + yaml);
  return join(dir, 'c.flow.yaml');
}

const derived = (derivation: string) => `
  acme/out:
    key: [/roomId]
    schema: { type: object, required: [roomId], properties: { roomId: { type: string } } }
    derivation:
${derivation}`;

test('a derivation parses into its spec: register defaults, transforms in declaration order, default shuffle, lambdas, module; npmDependencies', async (t) => {
  const path = await write(
    t,
    derived(`      transform:
        fromMessages:
          source: { name: acme/messages, partitions: { include: { } } }
          shuffle: { key: [/roomId] }
          update: { lambda: typescript }
        byId:
          source: { name: acme/messages }
          publish: { lambda: { remote: "http://127.0.0.1:9/x" } }
npmDependencies:
  lodash: ^4.17
`).replace('shuffle: { key: [/roomId] }', 'shuffle: { key: [/id] }'),
  );
  const catalog = await loadCatalog(path);
  const d = catalog.collections.get('acme/out')!.derivation!;
  t.is(d.register.initial, null);
  t.deepEqual(d.register.schema.root, {});
  t.deepEqual(d.transforms.map((x) => x.name), ['fromMessages', 'byId']);
  t.deepEqual(d.transforms[0]!.shuffle, ['/id']);
  t.deepEqual(d.transforms[1]!.shuffle, ['/id'], 'the source key by default');
  t.deepEqual(d.transforms[0]!.update, { typescript: true });
  t.deepEqual(d.transforms[1]!.publish, { remote: 'http://127.0.0.1:9/x' });
  t.is(d.module, path.replace(/\.yaml$/, '.ts'));
  t.regex(d.transforms[1]!.source, /c\.flow\.yaml:\d+$/);
  t.deepEqual(catalog.npmDependencies, { lodash: '^4.17' });
});

for (const [what, derivation, message] of [
  ['an unknown source collection', `      transform:\n        t:\n          source: { name: acme/nope }`, /c\.flow\.yaml:\d+ collections\."acme\/out"\.derivation\.transform\.t\.source\.name: no collection acme\/nope in the catalog/],
  ['a bad shuffle pointer', `      transform:\n        t:\n          source: { name: acme/messages }\n          shuffle: { key: [roomId] }`, /c\.flow\.yaml:\d+ collections\."acme\/out"\.derivation\.transform\.t\.shuffle\.key\[0\]: must be a JSON pointer/],
  ['shuffle keys whose types differ', `      transform:\n        a:\n          source: { name: acme/messages }\n          shuffle: { key: [/roomId] }\n        b:\n          source: { name: acme/rooms }`, /transform\.b\.shuffle: shuffle key types \(integer\) differ from those of transform a \(string\)/],
  ['readDelay', `      transform:\n        t:\n          source: { name: acme/messages }\n          readDelay: 1h`, /c\.flow\.yaml:\d+ collections\."acme\/out"\.derivation\.transform\.t\.readDelay: readDelay is a Flow field inlet does not support/],
  ['an unknown lambda', `      transform:\n        t:\n          source: { name: acme/messages }\n          update: { lambda: sql }`, /c\.flow\.yaml:\d+ collections\."acme\/out"\.derivation\.transform\.t\.update\.lambda/],
  ['a partition selector naming no partition field', `      transform:\n        t:\n          source: { name: acme/messages, partitions: { exclude: { x: [1] } } }`, /transform\.t\.source\.partitions\.exclude\.x: x is not a partition field of acme\/messages/],
] as const) {
  test(`a derivation with ${what} is refused naming file, line and path`, async (t) => {
    const err = await t.throwsAsync(loadCatalog(await write(t, derived(derivation))), { instanceOf: InletError, message });
    t.is((err as InletError).code, 'INVALID_CATALOG');
  });
}
