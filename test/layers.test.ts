import test from 'ava';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './helpers/broker.js';

const SRC = join(ROOT, 'src');

/**
 * The package entry re-exports the collection readers for users of the library; it is the
 * one file allowed to point up (readers → collections), and no file of `src` imports it.
 */
const ENTRY = 'readers/mod.ts';

interface Edge {
  from: string;
  to: string;
}

/** Every static import and re-export between files of src (paths relative to src). */
async function importsOf(): Promise<Edge[]> {
  const files = (await readdir(SRC, { recursive: true })).filter((f) => f.endsWith('.ts'));
  const edges: Edge[] = [];
  for (const file of files) {
    const text = await readFile(join(SRC, file), 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'(\.{1,2}\/[^']+)'/gms)) {
      edges.push({ from: file, to: relative(SRC, resolve(SRC, dirname(file), m[1]!)).replace(/\.js$/, '.ts') });
    }
  }
  return edges;
}

/** The top folder of a path in src (`broker/routes/x.ts` → `broker`); files at the top are their own. */
const folder = (path: string): string => path.split('/')[0]!;

test('broker/ imports nothing from catalog/, doc/ or collections/', async (t) => {
  const bad = (await importsOf()).filter((e) => folder(e.from) === 'broker' && ['catalog', 'doc', 'collections'].includes(folder(e.to)));
  t.deepEqual(bad, []);
});

test('readers/ and client/ import nothing from broker/, journal/ or the fragment stores', async (t) => {
  const bad = (await importsOf()).filter(
    (e) => ['readers', 'client'].includes(folder(e.from)) && (['broker', 'journal'].includes(folder(e.to)) || e.to.startsWith('fragments/stores/')),
  );
  t.deepEqual(bad, []);
});

test('the folders of src import one another without a cycle', async (t) => {
  const graph = new Map<string, Set<string>>();
  for (const e of await importsOf()) {
    if (e.from === ENTRY || folder(e.from) === folder(e.to)) continue;
    if (!graph.has(folder(e.from))) graph.set(folder(e.from), new Set());
    graph.get(folder(e.from))!.add(folder(e.to));
  }
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (node: string, path: string[]): void => {
    if (state.get(node) === 'done') return;
    if (state.get(node) === 'open') {
      cycles.push([...path.slice(path.indexOf(node)), node].join(' → '));
      return;
    }
    state.set(node, 'open');
    for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
    state.set(node, 'done');
  };
  for (const node of graph.keys()) visit(node, []);
  t.deepEqual(cycles, []);
});

test('importing the package entry loads no @aws-sdk module (it loads store SDKs on first use)', async (t) => {
  const run = (module: string) =>
    promisify(execFile)(process.execPath, ['--import', './test/helpers/forbid-modules.mjs', '-e', `await import(${JSON.stringify(module)})`], {
      cwd: ROOT,
      env: { ...process.env, FORBID_MODULES: '@aws-sdk/' },
    });
  const main = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).main as string;
  await t.notThrowsAsync(run(`./${main}`));
  // The check itself: the S3 store does load the SDK, and the child fails naming it.
  const err = await t.throwsAsync(run('./dist/src/fragments/stores/s3.js'));
  t.regex(String((err as Error & { stderr: string }).stderr), /forbidden module @aws-sdk\//);
});
