import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Catalog } from '../catalog/types.js';
import { InletError } from '../errors.js';
import { typeName } from './names.js';

/**
 * Builds the TypeScript modules of `catalog`'s derivations into one ESM bundle that exports each
 * derivation's class by typeName(derivation name); undefined when no lambda is `typescript`.
 *
 * The minimal version: esbuild bundles each module (types are erased, not checked), and
 * `inlet/modules` / `flow/modules` imports resolve to an empty module (they carry only types).
 */
export async function buildModules(catalog: Catalog, opts: { dir: string }): Promise<string | undefined> {
  const exports: string[] = [];
  for (const spec of catalog.collections.values()) {
    const module = spec.derivation?.module;
    if (!module) continue;
    exports.push(`export { ${typeName(spec.name)} } from ${JSON.stringify(module)};`);
  }
  if (exports.length === 0) return undefined;
  await mkdir(opts.dir, { recursive: true });
  const entry = join(opts.dir, 'modules-entry.ts');
  const out = join(opts.dir, 'modules.mjs');
  await writeFile(entry, exports.join('\n') + '\n');
  try {
    await build({
      entryPoints: [entry],
      outfile: out,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      logLevel: 'silent',
      plugins: [
        {
          name: 'inlet-modules',
          setup(b) {
            b.onResolve({ filter: /^(inlet|flow)\/modules$/ }, (args) => ({ path: args.path, namespace: 'inlet-modules' }));
            b.onLoad({ filter: /.*/, namespace: 'inlet-modules' }, () => ({
              contents: 'export const anchors = {}, collections = {}, interfaces = {}, registers = {};',
              loader: 'js',
            }));
          },
        },
      ],
    });
  } catch (err) {
    const first = (err as { errors?: { text: string; location?: { file: string; line: number; column: number } }[] }).errors?.[0];
    const where = first?.location ? `${first.location.file}:${first.location.line}:${first.location.column} ` : '';
    throw new InletError('INVALID_CATALOG', `cannot build the derivation modules: ${where}${first?.text ?? (err as Error).message}`, { cause: err });
  }
  return out;
}
