import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT, runCli } from './helpers/broker.js';

const EXAMPLES = join(ROOT, 'catalog/examples');

/** Every catalog file of the examples that declares tests (read synchronously: ava needs every test declared at load). */
function catalogsWithTests(): string[] {
  const files = readdirSync(EXAMPLES, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.flow.yaml') && !f.includes('inlet_generated'));
  const out: string[] = [];
  for (const f of files.sort()) if (/^tests:/m.test(readFileSync(join(EXAMPLES, f), 'utf8'))) out.push(join(EXAMPLES, f));
  return out;
}

test('the example catalogs declare tests', (t) => {
  t.true(catalogsWithTests().length > 0);
});

for (const file of catalogsWithTests()) {
  test(`inlet test passes every test of ${relative(ROOT, file)}`, async (t) => {
    const res = await runCli(['test', '--source', file]);
    t.is(res.code, 0, res.stdout + res.stderr);
    t.regex(res.stdout, /^Ran (\d+) tests, \1 passed, 0 failed$/m);
  });
}
