import test from 'ava';
import { existsSync } from 'node:fs';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InletError } from '../src/errors.js';
import { exitCodeFor } from '../src/cli/args.js';
import { buildModules } from '../src/derive/typescript.js';
import { ROOT, runCli, tempDir } from './helpers/broker.js';
import { bundleOf, catalogWithDerivation, chatCatalog } from './helpers/derivations.js';

const CHAT = join(ROOT, 'catalog/examples/chat');

/** A copy of the chat example in a temporary dir (generated files land beside the catalog). */
async function chatCopy(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await tempDir('inlet-ts-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(CHAT, dir, { recursive: true, filter: (src) => !src.includes('inlet_generated') && !src.endsWith('tsconfig.json') });
  return dir;
}

type Lambdas = Record<string, (...args: unknown[]) => unknown[]>;

test('the chat module type-checks against the generated types and its bundle runs its lambdas', async (t) => {
  const dir = await chatCopy(t);
  const out = await buildModules(await chatCatalog(dir), { dir: join(dir, 'build') });
  t.is(out, join(dir, 'build', 'modules.mjs'));
  const types = await readFile(join(dir, 'inlet_generated/modules.d.ts'), 'utf8');
  for (const decl of ['namespace anchors', 'export type RoomSubscriber', 'namespace collections', 'export type Messages', 'export type RoomUsers', 'namespace registers', 'subscribers: anchors.RoomSubscriber[];', 'namespace interfaces']) {
    t.true(types.includes(decl), decl);
  }
  t.regex(types, /fromRoomUsersPublish\(source: collections\.RoomUsers, register: registers\.UserDetails, previous: registers\.UserDetails\): collections\.UserDetails\[\];/);
  t.true(existsSync(join(dir, 'tsconfig.json')), 'a tsconfig for editors beside the catalog');

  const { UserDetails } = (await import(pathToFileURL(out!).href)) as { UserDetails: new () => Lambdas };
  const u = new UserDetails();
  const before = { messages: { m1: 10 }, subscribers: [{ userId: 'ann', seenTimestamp: 10 }] };
  const after = { messages: { m1: 10, m2: 20 }, subscribers: [{ userId: 'ann', seenTimestamp: 10 }] };
  t.deepEqual(u.fromMessagesUpdate!({ id: 'm2', roomId: 'r', timestamp: 20 }), [{ messages: { m2: 20 }, subscribers: [] }]);
  t.deepEqual(u.fromMessagesPublish!({}, after, before), [{ id: 'ann', numUnreadRooms: 1 }]);
});

test('a type error stops the build with file:line:col and the message, exit code 2', async (t) => {
  const dir = await chatCopy(t);
  const module = join(dir, 'userDetails.flow.ts');
  const text = await readFile(module, 'utf8');
  await writeFile(module, text.replace('return [{ messages: { [source.id]: timestamp }, subscribers: [] }];', "return [{ messages: { [source.id]: 'late' }, subscribers: [] }];"));
  const line = text.split('\n').findIndex((l) => l.includes('[source.id]: timestamp')) + 1;
  const err = await t.throwsAsync(buildModules(await chatCatalog(dir), { dir: join(dir, 'build') }), { instanceOf: InletError });
  t.regex(err!.message, new RegExp(`^1 type error .*\n\\S*userDetails\\.flow\\.ts:${line}:\\d+ Type `));
  t.regex(err!.message, /Type 'string' is not assignable to type 'number'/);
  t.is(exitCodeFor(err), 2);
  t.false(existsSync(join(dir, 'build', 'modules.mjs')), 'nothing is bundled');
});

test('a missing module gets a stub that type-checks and throws "Not implemented"', async (t) => {
  const dir = await chatCopy(t);
  await rm(join(dir, 'userDetails.flow.ts'));
  const out = await buildModules(await chatCatalog(dir), { dir: join(dir, 'build') });
  const stub = await readFile(join(dir, 'userDetails.flow.ts'), 'utf8');
  t.regex(stub, /export class UserDetails implements interfaces\.UserDetails/);
  t.is(stub.match(/throw new Error\('Not implemented'\)/g)?.length, 4);
  const { UserDetails } = (await import(pathToFileURL(out!).href)) as { UserDetails: new () => Lambdas };
  t.throws(() => new UserDetails().fromMessagesUpdate!({}), { message: 'Not implemented' });
});

test('a class missing a method of its interface fails the type-check', async (t) => {
  const dir = await chatCopy(t);
  const module = join(dir, 'userDetails.flow.ts');
  await writeFile(module, (await readFile(module, 'utf8')).replace(' implements interfaces.UserDetails', '').replace('fromRoomUsersUpdate(', 'fromRoomUserUpdate('));
  const err = await t.throwsAsync(buildModules(await chatCatalog(dir), { dir: join(dir, 'build') }), { instanceOf: InletError });
  t.regex(err!.message, /inlet_generated\/check\.ts:\d+:\d+ .*fromRoomUsersUpdate/);
});

test('a catalog without TypeScript lambdas builds nothing', async (t) => {
  const dir = await chatCopy(t);
  const catalog = await chatCatalog(dir);
  for (const tr of catalog.collections.get('userDetails')!.derivation!.transforms) {
    tr.update = { remote: 'http://127.0.0.1:1/lambda' };
    tr.publish = { remote: 'http://127.0.0.1:1/lambda' };
  }
  t.is(await buildModules(catalog, { dir: join(dir, 'build') }), undefined);
});

test('npmDependencies install once into the cache, and a Flow 2021 module using one runs with only its import path changed', async (t) => {
  const dir = await tempDir('inlet-ts-npm-');
  const cache = await tempDir('inlet-cache-');
  const priorCache = process.env.INLET_CACHE_DIR;
  process.env.INLET_CACHE_DIR = cache;
  t.teardown(async () => {
    process.env.INLET_CACHE_DIR = priorCache;
    await rm(dir, { recursive: true, force: true });
    await rm(cache, { recursive: true, force: true });
  });
  await writeFile(join(dir, 'ints.schema.yaml'), 'type: object\nproperties: { key: { type: string }, value: { type: integer } }\nrequired: [key, value]\n');
  await writeFile(join(dir, 'ints.flow.yaml'), 'collections:\n  patterns/ints:\n    key: [/key]\n    schema: ints.schema.yaml\n');
  // Written as Flow 2021's examples write a module, with 'flow/modules' replaced by 'inlet/modules'.
  await writeFile(
    join(dir, 'evens.flow.ts'),
    [
      "import { collections, interfaces, registers } from 'inlet/modules';",
      "import isNumber from 'is-number';",
      '',
      'export class PatternsEvens implements interfaces.PatternsEvens {',
      '    fromIntsPublish(',
      '        source: collections.PatternsInts,',
      '        _register: registers.PatternsEvens,',
      '        _previous: registers.PatternsEvens,',
      '    ): collections.PatternsEvens[] {',
      '        return isNumber(source.value) && source.value % 2 === 0 ? [{ key: source.key, value: source.value }] : [];',
      '    }',
      '}',
      '',
    ].join('\n'),
  );
  const catalog = await catalogWithDerivation({
    inputs: join(dir, 'ints.flow.yaml'),
    name: 'patterns/evens',
    key: ['/key'],
    schema: await bundleOf(join(dir, 'ints.schema.yaml')),
    register: { root: true, uri: pathToFileURL(join(dir, 'ints.flow.yaml')).href + '?register' },
    transforms: [{ name: 'fromInts', reads: { name: 'patterns/ints' }, shuffle: ['/key'], publish: { typescript: true } }],
    module: join(dir, 'evens.flow.ts'),
    npmDependencies: { 'is-number': '^7.0.0' },
  });
  const out = await buildModules(catalog, { dir: join(dir, 'build') });
  const { PatternsEvens } = (await import(pathToFileURL(out!).href)) as { PatternsEvens: new () => Lambdas };
  t.deepEqual(new PatternsEvens().fromIntsPublish!({ key: 'a', value: 4 }, null, null), [{ key: 'a', value: 4 }]);
  t.deepEqual(new PatternsEvens().fromIntsPublish!({ key: 'b', value: 5 }, null, null), []);

  // The second build finds the set installed: it does not run npm (which is no longer on PATH).
  const path = process.env.PATH;
  process.env.PATH = '';
  try {
    t.truthy(await buildModules(catalog, { dir: join(dir, 'build2') }));
  } finally {
    process.env.PATH = path;
  }
});

test('inlet generate writes the types of a catalog and a tsconfig for editors, and keeps a tsconfig that exists', async (t) => {
  const dir = await chatCopy(t);
  const res = await runCli(['generate', '--source', join(dir, 'inputs.flow.yaml')]);
  t.is(res.code, 0, res.stderr);
  t.regex(res.stdout, /wrote .*inlet_generated\/modules\.d\.ts/);
  t.regex(await readFile(join(dir, 'inlet_generated/modules.d.ts'), 'utf8'), /export type RoomUsers = \{/);
  t.deepEqual(JSON.parse(await readFile(join(dir, 'tsconfig.json'), 'utf8')), { extends: './inlet_generated/tsconfig.json' });

  await writeFile(join(dir, 'tsconfig.json'), '{}\n');
  t.is((await runCli(['generate', '--source', join(dir, 'inputs.flow.yaml')])).code, 0);
  t.is(await readFile(join(dir, 'tsconfig.json'), 'utf8'), '{}\n');
});
