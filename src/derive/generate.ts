import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import type { Catalog, CollectionSpec, TransformSpec } from '../catalog/types.js';
import { typeName } from './names.js';
import { untypedPackages } from './npm.js';
import { SchemaTypes } from './schema-types.js';

/** The folder of generated files, beside the catalog's root file. */
export const GENERATED_DIR = 'inlet_generated';

/** A TypeScript module of the catalog and the derivation classes it must export. */
export interface ModuleClasses {
  /** Absolute path of the `.flow.ts` file. */
  readonly path: string;
  readonly classes: readonly string[];
}

/** What `generateTypes` wrote and what a build needs from it. */
export interface Generated {
  /** `<catalog dir>/inlet_generated`. */
  readonly dir: string;
  /** The tsconfig that type-checks every module against the generated types. */
  readonly tsconfig: string;
  readonly modules: readonly ModuleClasses[];
  /** Files written by this call (unchanged files are not rewritten): generated types, configs, stubs. */
  readonly written: readonly string[];
}

/**
 * Writes the TypeScript side of a catalog beside its root file (`catalog.files[0]`):
 *
 * - `inlet_generated/modules.d.ts`: the module `inlet/modules`, with namespaces `anchors`
 *   (each schema `$anchor` with a capital first letter), `collections` (each collection, by
 *   `typeName`), `registers` (each derivation's register) and `interfaces` (each derivation:
 *   `<transform>Update(source)` and `<transform>Publish(source, register, previous)` for its
 *   TypeScript lambdas), shaped as Flow 2021's `flow/modules`;
 * - `inlet_generated/npm.d.ts`: `declare module` for `npmDependencies` without types;
 * - `inlet_generated/check.ts`: asserts that each module's class implements its interface;
 * - `inlet_generated/tsconfig.json`: strict, resolving `inlet/modules` and the installed
 *   `npmDependencies` (in `nodeModules`); and `tsconfig.json` beside the catalog extending
 *   it, so editors resolve the same, unless a tsconfig.json is already there;
 * - a stub module (a class with every method, each throwing "Not implemented") for each
 *   `.flow.ts` that does not exist yet. Existing modules are never touched.
 */
export async function generateTypes(catalog: Catalog, opts: { nodeModules?: string } = {}): Promise<Generated> {
  const root = dirname(catalog.files[0]!);
  const dir = join(root, GENERATED_DIR);
  const written: string[] = [];
  const put = async (path: string, text: string): Promise<void> => {
    if (await writeIfChanged(path, text)) written.push(path);
  };
  await mkdir(dir, { recursive: true });

  const derivations = [...catalog.collections.values()].filter((c) => c.derivation?.module !== undefined && typescriptTransforms(c).length > 0);
  const byModule = new Map<string, CollectionSpec[]>();
  for (const c of derivations) byModule.set(c.derivation!.module!, [...(byModule.get(c.derivation!.module!) ?? []), c]);
  const modules = [...byModule].map(([path, cs]) => ({ path, classes: cs.map((c) => typeName(c.name)) }));

  await put(join(dir, 'modules.d.ts'), modulesDts(root, catalog, derivations));

  const deps = Object.keys(catalog.npmDependencies).sort();
  const untyped = opts.nodeModules ? untypedPackages(opts.nodeModules, deps) : deps;
  await put(
    join(dir, 'npm.d.ts'),
    `${HEADER}// npmDependencies that bring no type declarations: their imports are typed \`any\`.\n` +
      untyped.map((d) => `declare module ${JSON.stringify(d)};\n`).join(''),
  );

  const check = [HEADER, "import type { interfaces } from 'inlet/modules';\n"];
  for (const m of modules) check.push(`import { ${m.classes.join(', ')} } from ${JSON.stringify(importPath(dir, m.path))};\n`);
  for (const m of modules) for (const cls of m.classes) check.push(`export const __${cls}: interfaces.${cls} = new ${cls}();\n`);
  await put(join(dir, 'check.ts'), check.join(''));

  const paths: Record<string, string[]> = { 'inlet/modules': ['./modules.d.ts'] };
  if (opts.nodeModules) paths['*'] = [`${opts.nodeModules}/*`, `${opts.nodeModules}/@types/*`];
  const tsconfig = {
    compilerOptions: {
      strict: true,
      noEmit: true,
      target: 'es2022',
      lib: ['es2023', 'dom'],
      module: 'preserve',
      moduleResolution: 'bundler',
      allowImportingTsExtensions: true,
      skipLibCheck: true,
      types: [],
      paths,
    },
    files: ['./modules.d.ts', './npm.d.ts', './check.ts', ...modules.map((m) => relative(dir, m.path))],
  };
  await put(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2) + '\n');
  const editorConfig = join(root, 'tsconfig.json');
  if (!existsSync(editorConfig)) await put(editorConfig, JSON.stringify({ extends: `./${GENERATED_DIR}/tsconfig.json` }, null, 2) + '\n');

  for (const [path, cs] of byModule) {
    if (!existsSync(path)) await put(path, stubModule(root, cs));
  }
  return { dir, tsconfig: join(dir, 'tsconfig.json'), modules, written };
}

/** The transforms of a derivation with at least one TypeScript lambda. */
export function typescriptTransforms(c: CollectionSpec): TransformSpec[] {
  return (c.derivation?.transforms ?? []).filter((t) => isTypescript(t.update) || isTypescript(t.publish));
}

function isTypescript(l: TransformSpec['update']): boolean {
  return l !== undefined && 'typescript' in l;
}

const HEADER = '// Generated by inlet from the catalog: do not edit (inlet generate rewrites it).\n';

function modulesDts(root: string, catalog: Catalog, derivations: CollectionSpec[]): string {
  const types = new SchemaTypes();
  const byName = <T extends { name: string }>(xs: Iterable<T>) => [...xs].sort((a, b) => (typeName(a.name) < typeName(b.name) ? -1 : 1));
  const from = (c: CollectionSpec) => relativeSource(root, c.source);
  const collections = byName(catalog.collections.values()).map((c) => typeDecl(c.name, `schema of ${from(c)}`, types.typeOf(c.schema)));
  const registers = byName([...catalog.collections.values()].filter((c) => c.derivation)).map((c) =>
    typeDecl(c.name, `register schema of ${from(c)}`, types.typeOf(c.derivation!.register.schema)),
  );
  const anchors = [...types.anchors.keys()].sort().map((name) => `    // $anchor ${name}.\n    export type ${name} = ${indent(types.anchorType(name))};\n`);
  const interfaces = byName(derivations).map((c) => {
    const d = typeName(c.name);
    const methods = typescriptTransforms(c).flatMap((t) => methodSignatures(c, t).map((m) => `        ${m};\n`));
    return `    // Derivation ${c.name} (${from(c)}), implemented by ${relative(root, c.derivation!.module!)}.\n    export interface ${d} {\n${methods.join('')}    }\n`;
  });
  const ns = (name: string, body: string[]) => `\nexport declare namespace ${name} {\n${body.join('\n')}}\n`;
  return (
    HEADER +
    "// The module 'inlet/modules' (Flow 2021's 'flow/modules'): the catalog's types.\n" +
    ns('anchors', anchors) +
    ns('collections', collections) +
    ns('registers', registers) +
    ns('transforms', []) +
    ns('interfaces', interfaces)
  );
}

/** The TypeScript signatures of a transform's methods, as interfaces and stubs write them. */
function methodSignatures(c: CollectionSpec, t: TransformSpec): string[] {
  const d = typeName(c.name);
  const source = `collections.${typeName(t.reads.name)}`;
  const out: string[] = [];
  if (isTypescript(t.update)) out.push(`${t.name}Update(source: ${source}): registers.${d}[]`);
  if (isTypescript(t.publish)) out.push(`${t.name}Publish(source: ${source}, register: registers.${d}, previous: registers.${d}): collections.${d}[]`);
  return out;
}

function typeDecl(name: string, from: string, type: string): string {
  return `    // ${name}: ${from}.\n    export type ${typeName(name)} = ${indent(type)};\n`;
}

function indent(type: string): string {
  return type.split('\n').join('\n    ');
}

function stubModule(root: string, cs: CollectionSpec[]): string {
  const out = ["import { collections, interfaces, registers } from 'inlet/modules';\n"];
  for (const c of cs) {
    const d = typeName(c.name);
    out.push(`\n// Implementation of derivation ${c.name} (${relativeSource(root, c.source)}).\nexport class ${d} implements interfaces.${d} {\n`);
    for (const t of typescriptTransforms(c)) {
      for (const m of methodSignatures(c, t)) out.push(`    ${m} {\n        throw new Error('Not implemented');\n    }\n`);
    }
    out.push('}\n');
  }
  return out.join('');
}

/** A `file:line` source (relative to the working directory) made relative to `root`, so generated files do not depend on where inlet ran. */
function relativeSource(root: string, source: string): string {
  const m = /^(.*?)(:\d+)?$/.exec(source)!;
  return `${relative(root, resolve(m[1]!))}${m[2] ?? ''}`;
}

/** An import specifier for `file` from a module in `fromDir`: relative, `./`-prefixed, with its extension. */
export function importPath(fromDir: string, file: string): string {
  const rel = relative(fromDir, file).split('\\').join('/');
  return rel.startsWith('.') ? rel : `./${rel}`;
}

/** Writes `text` to `path` (atomically) unless it already holds exactly that; true when written. */
async function writeIfChanged(path: string, text: string): Promise<boolean> {
  const prior = await readFile(path, 'utf8').catch(() => undefined);
  if (prior === text) return false;
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
  return true;
}
