import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCatalog } from '../catalog/load.js';
import { compileCatalog } from '../collections/collection.js';
import { DerivationRuntime } from '../derive/runtime.js';
import { buildModules } from '../derive/typescript.js';
import { formatResults, runTest, selectTests, type TestResult } from '../testing/runner.js';
import { UsageError } from './args.js';
import type { Parsed } from './command.js';

/**
 * `inlet test --source FILE [--filter RE]`: builds the catalog (types, type-check, bundle) and
 * runs its tests, each on a broker and derivation state of its own, printing Flow's report.
 * Exits 1 when a test fails (2 for a catalog or module that does not build).
 */
export async function test(args: Parsed): Promise<void> {
  const { source, filter } = args.values;
  if (typeof source !== 'string') throw new UsageError('inlet test: --source CATALOG is required (e.g. --source userDetails.flow.yaml)');
  if (filter !== undefined) {
    try {
      new RegExp(filter as string);
    } catch (err) {
      throw new UsageError(`--filter: not a regular expression: ${(err as Error).message}`);
    }
  }
  const catalog = await loadCatalog(source);
  const collections = compileCatalog(catalog);
  const tests = selectTests(catalog.tests, filter as string | undefined);
  const build = await mkdtemp(join(tmpdir(), 'inlet-test-build-'));
  try {
    const module = await buildModules(catalog, { dir: build });
    process.stdout.write(`Running  ${tests.length}  tests...\n`);
    const results: TestResult[] = [];
    for (const t of tests) {
      const result = await runTest(catalog, t, { collections, startRuntime: (o) => DerivationRuntime.start(o), ...(module ? { module } : {}) });
      results.push(result);
    }
    process.stdout.write(formatResults(results));
    if (results.some((r) => !r.passed)) process.exitCode = 1;
  } finally {
    await rm(build, { recursive: true, force: true });
  }
}
