import test, { type ExecutionContext } from 'ava';
import { Ajv } from 'ajv';
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadCatalog } from '../src/catalog/load.js';
import { InletError } from '../src/errors.js';
import { ROOT, tempDir } from './helpers/broker.js';

const FIXTURES = join(ROOT, 'test/fixtures/catalog');
const fixture = (name: string) => join(FIXTURES, name);
const uri = (name: string) => pathToFileURL(fixture(name)).href;

/** Asserts loading `path` fails with INVALID_CATALOG and a message matching `message`. */
async function refuses(t: ExecutionContext, path: string, message: RegExp): Promise<void> {
  const err = await t.throwsAsync(loadCatalog(path), { instanceOf: InletError, message });
  t.is((err as InletError).code, 'INVALID_CATALOG');
}

/** Writes `yaml` as a catalog in a fresh temp dir and returns its path. */
async function catalogText(t: ExecutionContext, yaml: string): Promise<string> {
  const dir = await tempDir('inlet-catalog-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'c.flow.yaml'), yaml);
  return join(dir, 'c.flow.yaml');
}

/** Runs the CLI from source, as a real process. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test('a catalog loads with its imports, schema files, $defs fragments and inline schemas', async (t) => {
  const catalog = await loadCatalog(fixture('valid/main.flow.yaml'));
  t.deepEqual([...catalog.collections.keys()], ['acme/shipments', 'acme/carriers', 'acme/events.v2']);

  const shipments = catalog.collections.get('acme/shipments')!;
  t.deepEqual(shipments.key, ['/id']);
  t.deepEqual(shipments.projections, {
    carrier: { location: '/vendor/name', partition: true, inferred: { types: ['string'], required: true } },
    weight: { location: '/weight_kg', partition: false, inferred: { types: ['integer', 'number'], required: false } },
    rush: { location: '/rush', partition: true, inferred: { types: ['boolean'], required: true } },
  });
  t.deepEqual(shipments.partitionFields, ['carrier', 'rush']);
  t.deepEqual(shipments.journals, { fragment: { length: '64MiB', codec: 'zstd', flushInterval: '1h' } });
  t.regex(shipments.source, /valid\/main\.flow\.yaml:7$/);
  t.is(shipments.schema.uri, uri('valid/shipments.schema.yaml'));
  t.deepEqual(shipments.schema.resources!.map((r) => r.uri), [uri('valid/shipments.schema.yaml'), uri('valid/common.schema.json')]);
  t.is(shipments.schema.root, shipments.schema.resources![0]!.schema);

  const carriers = catalog.collections.get('acme/carriers')!;
  t.deepEqual(carriers.schema.root, { $ref: `${uri('valid/defs.schema.yaml')}#/$defs/carrier` });
  t.deepEqual(carriers.partitionFields, ['region']);
  t.deepEqual(carriers.journals, {});

  const events = catalog.collections.get('acme/events.v2')!;
  t.is(events.schema.uri, `${uri('valid/other.flow.yaml')}?collection=acme%2Fevents.v2`);
  t.deepEqual(events.key, ['/seq', '/source']);
  t.deepEqual(events.projections.seq, { location: '/seq', partition: false, inferred: { types: ['integer'], required: true } });
});

test('projections carry the type the schema proves: types, nullability, string format, presence', async (t) => {
  const path = await catalogText(
    t,
    `collections:
  acme/events:
    key: [/id]
    schema:
      type: object
      required: [id, at]
      properties:
        id: { type: integer }
        at: { type: string, format: date-time }
        note: { type: [string, "null"] }
        when: { anyOf: [{ type: string, format: date }, { type: string, format: date }] }
        extra: {}
    projections:
      at: /at
      note: /note
      when: /when
      extra: /extra
`,
  );
  const { projections } = (await loadCatalog(path)).collections.get('acme/events')!;
  t.deepEqual(projections.at!.inferred, { types: ['string'], format: 'date-time', required: true });
  t.deepEqual(projections.note!.inferred, { types: ['null', 'string'], required: false });
  t.deepEqual(projections.when!.inferred, { types: ['string'], format: 'date', required: false });
  t.deepEqual(projections.extra!.inferred, { required: false });
});

test('a key required through an $anchor reference is proven, as the schema index resolves it', async (t) => {
  const path = await catalogText(
    t,
    `collections:
  acme/parcels:
    key: [/vendor/name]
    schema:
      type: object
      required: [vendor]
      properties:
        vendor: { $ref: "#vendor" }
      $defs:
        vendor: { $anchor: vendor, type: object, required: [name], properties: { name: { type: string } } }
`,
  );
  const parcels = (await loadCatalog(path)).collections.get('acme/parcels')!;
  t.deepEqual(parcels.key, ['/vendor/name']);
});

test('each file loads once though imports repeat and cycle', async (t) => {
  const catalog = await loadCatalog(fixture('valid/main.flow.yaml'));
  t.deepEqual(
    catalog.files,
    ['main.flow.yaml', 'other.flow.yaml', 'shipments.schema.yaml', 'common.schema.json', 'defs.schema.yaml'].map((f) => fixture(`valid/${f}`)),
  );
});

test('a bundle compiles by registering its resources and compiling its root', async (t) => {
  const catalog = await loadCatalog(fixture('valid/main.flow.yaml'));
  const cases: [string, unknown, unknown][] = [
    ['acme/shipments', { id: 's1', vendor: { name: 'UPS' }, rush: false }, { id: 's1', vendor: {}, rush: false }],
    ['acme/carriers', { code: 'c', region: 'eu' }, { code: 'c', region: 'mars' }],
    ['acme/events.v2', { seq: 1, source: 'scanner', kind: 'scan' }, { seq: 1, source: 7, kind: 'scan' }],
  ];
  for (const [name, good, bad] of cases) {
    const { schema } = catalog.collections.get(name)!;
    const ajv = new Ajv();
    for (const r of schema.resources!) ajv.addSchema(r.schema as object, r.uri);
    const validate = ajv.compile(schema.root as object);
    t.true(validate(good), name);
    t.false(validate(bad), name);
  }
});

test('an unknown field is refused, naming the file, line and path', async (t) => {
  await refuses(t, fixture('errors/unknown-field.flow.yaml'), /errors\/unknown-field\.flow\.yaml:6 collections\."acme\/shipments"\.projections\.carrier\.partiton: unknown field$/);
  const top = await catalogText(t, 'collections: {}\ncaptures: {}\n');
  await refuses(t, top, /c\.flow\.yaml:2 captures: unknown field$/);
});

test('a key that is not a JSON pointer is refused at its line', async (t) => {
  await refuses(t, fixture('errors/bad-key.flow.yaml'), /errors\/bad-key\.flow\.yaml:8 collections\."acme\/shipments"\.key\[0\]: must be a JSON pointer starting with \/$/);
  const escaped = await catalogText(t, 'collections:\n  a/b:\n    key: [/a~2b]\n    schema: { type: object }\n');
  await refuses(t, escaped, /c\.flow\.yaml:3 collections\."a\/b"\.key\[0\]: must be a JSON pointer: write ~ in a name as ~0 and \/ as ~1$/);
});

test('a key the schema does not require is refused', async (t) => {
  await refuses(t, fixture('errors/key-not-required.flow.yaml'), /key-not-required\.flow\.yaml:4 collections\."acme\/shipments"\.key\[1\]: key \/weight_kg is not required by the schema of acme\/shipments/);
  // `required` proves nothing unless the parent is typed object: a string would pass it.
  const untyped = await catalogText(t, 'collections:\n  a/b:\n    key: [/id]\n    schema: { required: [id] }\n');
  await refuses(t, untyped, /c\.flow\.yaml:3 collections\."a\/b"\.key\[0\]: key \/id is not required/);
});

test('a partition field must be required by the schema', async (t) => {
  await refuses(
    t,
    fixture('errors/partition-not-required.flow.yaml'),
    /partition-not-required\.flow\.yaml:14 collections\."acme\/parcels"\.projections\.vendor: partition field vendor \(\/vendor\/name\) is not required by the schema of acme\/parcels/,
  );
});

test('a partition field must be typed string, integer or boolean', async (t) => {
  await refuses(t, fixture('errors/partition-number.flow.yaml'), /partition-number\.flow\.yaml:11 collections\."acme\/parcels"\.projections\.weight: partition field weight \(\/weight\) must have type string, integer or boolean, not number$/);
  const schema = (p: string) =>
    `collections:\n  a/b:\n    key: [/id]\n    schema:\n      type: object\n      required: [id, p]\n      properties: { id: { type: string }, p: ${p} }\n    projections:\n      p: { location: /p, partition: true }\n`;
  await refuses(t, await catalogText(t, schema('{ type: [string, "null"] }')), /projections\.p: .* not null$/);
  await refuses(t, await catalogText(t, schema('{ type: object }')), /projections\.p: .* not object$/);
  await refuses(t, await catalogText(t, schema('{ description: anything }')), /projections\.p: .* gives it no type$/);
  t.truthy(await loadCatalog(await catalogText(t, schema('{ enum: [1, 2, true] }'))));
});

test('a missing imported file is named with the file that imports it', async (t) => {
  await refuses(t, fixture('errors/missing-import.flow.yaml'), /missing-import\.flow\.yaml:2 import\[0\]: cannot read imported file test\/fixtures\/catalog\/errors\/nowhere\.flow\.yaml: no such file$/);
});

test('a missing schema file is named with the catalog or schema file that refers to it', async (t) => {
  await refuses(t, fixture('errors/missing-schema.flow.yaml'), /missing-schema\.flow\.yaml:4 collections\."acme\/shipments"\.schema: cannot read schema file .*errors\/nowhere\.schema\.yaml: no such file$/);
  await refuses(t, fixture('errors/missing-ref.flow.yaml'), /missing-ref\.schema\.yaml:5 properties\.vendor\.\$ref: cannot read schema file .*errors\/nowhere\.schema\.json: no such file$/);
  const pointer = await catalogText(t, `collections:\n  a/b:\n    key: [/id]\n    schema: ${fixture('valid/defs.schema.yaml')}#/$defs/nope\n`);
  await refuses(t, pointer, /c\.flow\.yaml:4 collections\."a\/b"\.schema: .*valid\/defs\.schema\.yaml has no \/\$defs\/nope$/);
  const remote = await catalogText(t, 'collections:\n  a/b:\n    key: [/id]\n    schema: https://example.com/s.json\n');
  await refuses(t, remote, /c\.flow\.yaml:4 collections\."a\/b"\.schema: "https:\/\/example\.com\/s\.json" is not a local file/);
});

test('a collection declared in two files is refused, naming both', async (t) => {
  await refuses(t, fixture('errors/duplicate.flow.yaml'), /duplicate-other\.flow\.yaml:3 collections\."acme\/shipments": collection acme\/shipments is already declared at .*errors\/duplicate\.flow\.yaml:3$/);
});

test('a collection name must be slash-separated segments usable in journal names', async (t) => {
  await refuses(t, fixture('errors/bad-name.flow.yaml'), /bad-name\.flow\.yaml:2 collections\."acme\/\/shipments": a collection name must be segments/);
  for (const name of ['/acme', 'acme/', 'acme/ship ments', 'acme/shipments=1', 'acmé']) {
    const file = await catalogText(t, `collections:\n  ${JSON.stringify(name)}: { key: [/id], schema: { type: object } }\n`);
    await refuses(t, file, /c\.flow\.yaml:2 .*: a collection name must be segments/);
  }
  const dots = await catalogText(t, 'collections:\n  acme/..: { key: [/id], schema: { type: object } }\n');
  await refuses(t, dots, /c\.flow\.yaml:2 .*: a collection name must be usable in journal names: .* must not contain a \. or \.\. segment$/);
});

test('a projection field name must be an identifier', async (t) => {
  const file = await catalogText(t, 'collections:\n  a/b:\n    key: [/id]\n    schema: { type: object }\n    projections:\n      weight-kg: /w\n');
  await refuses(t, file, /c\.flow\.yaml:6 collections\."a\/b"\.projections\."weight-kg": a projection field must match/);
});

test('fragment settings are checked with the journal fragment schema', async (t) => {
  await refuses(t, fixture('errors/bad-fragments.flow.yaml'), /bad-fragments\.flow\.yaml:8 collections\."acme\/shipments"\.journals\.fragments\.length: must be bytes, or a size like 128MiB \(at least 1KiB\)$/);
  const fragments = (f: string) => `collections:\n  a/b:\n    key: [/id]\n    schema: { type: object, required: [id] }\n    journals:\n      fragments: ${f}\n`;
  await refuses(t, await catalogText(t, fragments('{ codec: lz4 }')), /c\.flow\.yaml:6 .*\.journals\.fragments\.codec: must be one of "gzip", "zstd", "none"$/);
  await refuses(t, await catalogText(t, fragments('{ length: 0.5KiB }')), /\.journals\.fragments\.length: must be a size of at least 1KiB$/);
  await refuses(t, await catalogText(t, fragments('{ retention: forever }')), /\.journals\.fragments\.retention: must match pattern/);
});

test('a file that is not valid YAML is refused with its line', async (t) => {
  const file = await catalogText(t, 'collections:\n  a/b:\n    key: [/id\n');
  await refuses(t, file, /c\.flow\.yaml:\d+: not valid YAML: /);
});

test('inlet catalog check prints each collection and exits 0', async (t) => {
  const res = await cli(['catalog', 'check', 'test/fixtures/catalog/valid/main.flow.yaml']);
  t.is(res.code, 0, res.stderr);
  t.regex(res.stdout, /^acme\/shipments {2}\(test\/fixtures\/catalog\/valid\/main\.flow\.yaml:7\)$/m);
  t.regex(res.stdout, /^ {2}key {10}\/seq, \/source$/m);
  t.regex(res.stdout, /^ {2}partitions {3}carrier, rush$/m);
  t.regex(res.stdout, /^ {2}projections {2}carrier: \/vendor\/name \(partition\), weight: \/weight_kg, rush: \/rush \(partition\)$/m);
  t.regex(res.stdout, /^ok: 3 collections from 5 files$/m);
});

test('inlet catalog check exits 2 with one line naming the problem', async (t) => {
  const res = await cli(['catalog', 'check', 'test/fixtures/catalog/errors/bad-key.flow.yaml']);
  t.is(res.code, 2);
  t.is(res.stdout, '');
  t.is(res.stderr, 'inlet: test/fixtures/catalog/errors/bad-key.flow.yaml:8 collections."acme/shipments".key[0]: must be a JSON pointer starting with /\n');
  const missing = await cli(['catalog', 'check', 'nowhere.flow.yaml']);
  t.is(missing.code, 2);
  t.is(missing.stderr, 'inlet: cannot read catalog nowhere.flow.yaml: no such file\n');
  t.is((await cli(['catalog', 'check'])).code, 2);
});

test('inlet catalog --help prints usage', async (t) => {
  const group = await cli(['catalog', '--help']);
  t.is(group.code, 0, group.stderr);
  t.regex(group.stdout, /^Usage: inlet catalog <command>[\s\S]*catalog check {2}check a catalog/);
  const check = await cli(['catalog', 'check', '--help']);
  t.is(check.code, 0, check.stderr);
  t.regex(check.stdout, /^Usage: inlet catalog check FILE/);
});
