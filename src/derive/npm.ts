import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InletError } from '../errors.js';
import { runProcess } from './process.js';

/**
 * Where inlet caches what it builds for catalogs: `$INLET_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/inlet`, else `~/.cache/inlet`.
 */
export function cacheRoot(): string {
  return process.env.INLET_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'inlet');
}

/**
 * Installs a catalog's `npmDependencies` (package → version range) from the registry with
 * `npm install`, once per dependency set: the result is cached under
 * `<cacheRoot>/npm/<hash of the set>/` and reused by every later build. Returns that
 * folder's `node_modules`. The folder appears whole or not at all (installed beside it, then
 * renamed), so an interrupted or concurrent install never leaves a half-installed set in use.
 * Throws INVALID_CATALOG with npm's own words when the install fails (an unknown package, a
 * range no version satisfies, no registry).
 */
export async function installNpmDependencies(deps: Readonly<Record<string, string>>): Promise<string> {
  const sorted = Object.fromEntries(Object.entries(deps).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const hash = createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 16);
  const dir = join(cacheRoot(), 'npm', hash);
  if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules');

  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(tmp, { recursive: true });
  try {
    await writeFile(join(tmp, 'package.json'), JSON.stringify({ private: true, dependencies: sorted }, null, 2) + '\n');
    // Run from an npm script (`npm test`, `npm start`), the environment names that script's
    // project as npm's prefix (npm_config_local_prefix…): without --prefix and a clean
    // environment, this install went to that project and ran its `prepare` (a rebuild of inlet
    // itself, under a running test suite).
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD'));
    const { code, output } = await runProcess('npm', ['install', '--prefix', tmp, '--no-audit', '--no-fund', '--omit=dev', '--loglevel=error'], tmp, env).catch((err: Error) => {
      throw new InletError('INVALID_CATALOG', `npmDependencies: cannot run npm: ${err.message}`, { cause: err });
    });
    if (code !== 0) {
      const why = output.trim().split('\n').filter((l) => l.trim() !== '').slice(-6).join('\n  ');
      throw new InletError('INVALID_CATALOG', `npmDependencies ${JSON.stringify(sorted)}: npm install failed:\n  ${why}`);
    }
    await mkdir(join(tmp, 'node_modules'), { recursive: true });
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another build installed the same set first: use theirs.
      if (!existsSync(join(dir, 'node_modules'))) throw err;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return join(dir, 'node_modules');
}

/**
 * The packages of `names` installed in `nodeModules` that bring no type declarations of their
 * own (no `types`/`typings`, no `index.d.ts`) and have no `@types/` package installed beside
 * them: the type-check treats their imports as `any` rather than failing on them.
 */
export function untypedPackages(nodeModules: string, names: readonly string[]): string[] {
  return names.filter((name) => {
    const dir = join(nodeModules, name);
    if (existsSync(join(nodeModules, '@types', name.replace(/^@([^/]+)\//, '$1__')))) return false;
    if (existsSync(join(dir, 'index.d.ts'))) return false;
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
      return pkg.types === undefined && pkg.typings === undefined && !JSON.stringify(pkg.exports ?? null).includes('"types"');
    } catch {
      return true;
    }
  });
}
