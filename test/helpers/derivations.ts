import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog, CollectionSpec, SchemaBundle, TransformSpec } from '../../src/catalog/types.js';

/** The schema bundle of `file` (or of `file#pointer`), as the catalog loader builds one. */
export async function bundleOf(file: string, pointer?: string): Promise<SchemaBundle> {
  const uri = pathToFileURL(resolve(file)).href;
  const schema = YAML.parse(await readFile(file, 'utf8')) as unknown;
  return { root: pointer ? { $ref: `${uri}#${pointer}` } : schema, uri, resources: [{ uri, schema }] };
}

/**
 * A catalog with a derivation written by hand (until the catalog loader parses `derivation`):
 * the collections of `inputs` plus `name`, derived by `transforms` with its module beside `dir`.
 */
export async function catalogWithDerivation(opts: {
  inputs: string;
  name: string;
  key: string[];
  schema: SchemaBundle;
  register: SchemaBundle;
  transforms: Omit<TransformSpec, 'source'>[];
  module: string;
  npmDependencies?: Record<string, string>;
}): Promise<Catalog> {
  const base = await loadCatalog(opts.inputs);
  const spec: CollectionSpec = {
    name: opts.name,
    key: opts.key,
    schema: opts.schema,
    projections: {},
    partitionFields: [],
    journals: {},
    derivation: {
      register: { schema: opts.register, initial: null },
      transforms: opts.transforms.map((t) => ({ ...t, source: `${opts.module}:1` })),
      module: resolve(opts.module),
    },
    source: `${opts.module}:1`,
  };
  base.collections.set(opts.name, spec);
  return { ...base, npmDependencies: opts.npmDependencies ?? {} };
}

/** The chat example's catalog, its userDetails derivation written by hand. */
export async function chatCatalog(dir: string): Promise<Catalog> {
  const ts = { typescript: true } as const;
  const c = await catalogWithDerivation({
    inputs: join(dir, 'inputs.flow.yaml'),
    name: 'userDetails',
    key: ['/id'],
    schema: await bundleOf(join(dir, 'userDetails.schema.yaml')),
    register: await bundleOf(join(dir, 'userDetails.schema.yaml'), '/$defs/roomState'),
    transforms: [
      { name: 'fromMessages', reads: { name: 'messages' }, shuffle: ['/roomId'], update: ts, publish: ts },
      { name: 'fromRoomUsers', reads: { name: 'roomUsers' }, shuffle: ['/roomId'], update: ts, publish: ts },
    ],
    module: join(dir, 'userDetails.flow.ts'),
  });
  c.collections.get('userDetails')!.derivation!.register.initial = { subscribers: [], messages: {} };
  return c;
}
