import test from 'ava';
import { execFile } from 'node:child_process';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, withTempDir } from './helpers/broker.js';

const run = promisify(execFile);

test('the packed tarball installs into an empty folder: npx inlet runs and import("inlet") loads with types (regression: bin pointed at a missing file)', async (t) => {
  // Packing and installing 130 packages takes a while on a busy machine; it is offline, from npm's cache.
  t.timeout(300_000);
  await withTempDir(async (dir) => {
    await run('npm', ['pack', '--pack-destination', dir, '--ignore-scripts'], { cwd: ROOT });
    const tarball = (await readdir(dir)).find((f) => f.endsWith('.tgz'))!;
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await run('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', `./${tarball}`], { cwd: dir });
    await rm(join(dir, tarball));

    const version = await run('npx', ['--offline', 'inlet', '--version'], { cwd: dir });
    t.regex(version.stdout, /^\d+\.\d+\.\d+\n$/);
    const help = await run('npx', ['--offline', 'inlet', '--help'], { cwd: dir });
    t.regex(help.stdout, /^Usage: inlet <command>/);

    const loaded = await run(process.execPath, ['--input-type=module', '-e', "const m = await import('inlet'); console.log(typeof m.JournalReader, typeof m.BrokerClient)"], { cwd: dir });
    t.is(loaded.stdout, 'function function\n');
    // The types resolve from the package alone: a consumer's TypeScript checks against them.
    await writeFile(join(dir, 'use.ts'), "import { BrokerClient, type Chunk } from 'inlet';\nconst c: BrokerClient = new BrokerClient('http://127.0.0.1:1');\nconst chunk: Chunk | undefined = undefined;\nexport { c, chunk };\n");
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    await t.notThrowsAsync(run(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', '--types', 'node', '--typeRoots', join(ROOT, 'node_modules/@types'), 'use.ts'], { cwd: dir }));
  });
});
