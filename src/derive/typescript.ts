import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { displayPath } from '../catalog/source.js';
import type { Catalog } from '../catalog/types.js';
import { InletError } from '../errors.js';
import { generateTypes, type Generated } from './generate.js';
import { installNpmDependencies } from './npm.js';
import { runProcess } from './process.js';

/** The file `buildModules` writes in its `dir`. */
export const BUNDLE_FILE = 'modules.mjs';

/**
 * Builds the TypeScript modules of `catalog`'s derivations into one ESM bundle that exports each
 * derivation's class by typeName(derivation name) (src/derive/names.ts); undefined when no lambda
 * is `typescript`. Generates types, installs npmDependencies, type-checks (a type error →
 * InletError whose message lists `file:line:col message`, CLI exit code 2).
 *
 * In order: `npmDependencies` are installed (cached by their hash, see installNpmDependencies);
 * `generateTypes` writes `inlet_generated/` beside the catalog (and stubs for missing modules);
 * the TypeScript compiler checks every module against the generated types; esbuild bundles
 * them, with their npm dependencies, into `<dir>/modules.mjs` (source map beside it), where
 * `inlet/modules` is an empty runtime module (its namespaces hold only types). Throws
 * INVALID_CATALOG for a type error or a module esbuild cannot bundle (both as
 * `file:line:col message` lines), or a failed npm install.
 */
export async function buildModules(catalog: Catalog, opts: { dir: string }): Promise<string | undefined> {
  const generated = await prepareModules(catalog);
  if (generated.modules.length === 0) return undefined;
  await typeCheck(generated);
  await mkdir(opts.dir, { recursive: true });
  const out = join(opts.dir, BUNDLE_FILE);
  await bundle(generated, out, catalog);
  return out;
}

/** Installs the catalog's npmDependencies and generates its types (`inlet generate`). */
export async function prepareModules(catalog: Catalog): Promise<Generated & { nodeModules?: string }> {
  const nodeModules = Object.keys(catalog.npmDependencies).length > 0 ? await installNpmDependencies(catalog.npmDependencies) : undefined;
  return { ...(await generateTypes(catalog, { nodeModules })), ...(nodeModules ? { nodeModules } : {}) };
}

/** Runs the TypeScript compiler (typescript 7, native) over the generated tsconfig. */
async function typeCheck(generated: Generated): Promise<void> {
  const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  const { code, output } = await runProcess(process.execPath, [tsc, '-p', generated.tsconfig, '--pretty', 'false'], process.cwd());
  if (code === 0) return;
  const errors = parseDiagnostics(output);
  if (errors.length === 0) throw new InletError('INTERNAL', `the TypeScript compiler failed (exit ${code}): ${output.trim()}`);
  const n = errors.length;
  throw new InletError('INVALID_CATALOG', `${n} type error${n === 1 ? '' : 's'} in the catalog's TypeScript:\n${errors.join('\n')}`);
}

/** `file(line,col): error TSxxxx: message` (and its indented continuation lines) → `file:line:col message`. */
export function parseDiagnostics(output: string): string[] {
  const out: string[] = [];
  for (const line of output.split('\n')) {
    const m = /^(.+?)\((\d+),(\d+)\): error TS\d+: (.*)$/.exec(line);
    if (m) out.push(`${displayPath(join(process.cwd(), m[1]!))}:${m[2]}:${m[3]} ${m[4]}`);
    else if (/^\s+\S/.test(line) && out.length > 0) out[out.length - 1] += `\n  ${line.trim()}`;
    else if (/^error TS\d+: /.test(line)) out.push(line.replace(/^error TS\d+: /, ''));
  }
  return out;
}

async function bundle(generated: Generated & { nodeModules?: string }, outfile: string, catalog: Catalog): Promise<void> {
  const esbuild = await import('esbuild');
  const entry = generated.modules.map((m) => `export { ${m.classes.join(', ')} } from ${JSON.stringify(m.path)};\n`).join('');
  try {
    await esbuild.build({
      stdin: { contents: entry, resolveDir: dirname(catalog.files[0]!), loader: 'ts', sourcefile: 'inlet-entry.ts' },
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: 'linked',
      logLevel: 'silent',
      nodePaths: generated.nodeModules ? [generated.nodeModules] : [],
      // CommonJS dependencies may `require` Node's modules, which an ES module must provide.
      banner: { js: "import { createRequire as __inletRequire } from 'node:module'; const require = __inletRequire(import.meta.url);" },
      plugins: [
        {
          name: 'inlet-modules',
          setup(build) {
            build.onResolve({ filter: /^inlet\/modules$/ }, () => ({ path: 'inlet/modules', namespace: 'inlet-modules' }));
            build.onLoad({ filter: /.*/, namespace: 'inlet-modules' }, () => ({
              contents: 'export const anchors = {}, collections = {}, interfaces = {}, registers = {}, transforms = {};\n',
              loader: 'js',
            }));
          },
        },
      ],
    });
  } catch (err) {
    const errors = (err as { errors?: { text: string; location?: { file: string; line: number; column: number } | null }[] }).errors ?? [];
    if (errors.length === 0) throw err;
    const lines = errors.map((e) => (e.location ? `${displayPath(join(process.cwd(), e.location.file))}:${e.location.line}:${e.location.column + 1} ${e.text}` : e.text));
    throw new InletError('INVALID_CATALOG', `cannot bundle the catalog's TypeScript:\n${lines.join('\n')}`, { cause: err });
  }
}
