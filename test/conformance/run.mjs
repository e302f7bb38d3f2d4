// Starts a broker on a free port over a fresh data dir, runs the Durable Streams
// conformance suite against it with vitest, and checks the pass count against a floor.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MIN_PASSED = 324; // the reference server @durable-streams/server 0.3.7 passes 324 of suite 0.3.6
const root = fileURLToPath(new URL('../..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'inlet-conformance-'));

const broker = spawn(
  process.execPath,
  [join(root, 'dist/src/cli/main.js'), 'serve', '--port', '0', '--data-dir', dataDir, '--long-poll-timeout', '2s', '--log-level', process.env.INLET_CONFORMANCE_LOG_LEVEL ?? 'warn'],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const url = await waitForUrl(broker);

const vitest = spawn(
  process.execPath,
  [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--config', join(root, 'test/conformance/vitest.config.ts'), '--reporter=json', '--outputFile', join(dataDir, 'report.json'), '--reporter=dot'],
  { stdio: 'inherit', env: { ...process.env, INLET_CONFORMANCE_URL: url } },
);
const code = await new Promise((resolve) => vitest.on('exit', resolve));
const brokerExit = new Promise((resolve) => broker.on('exit', resolve));
broker.kill('SIGTERM');
const brokerCode = await brokerExit;

const { readFileSync } = await import('node:fs');
const report = JSON.parse(readFileSync(join(dataDir, 'report.json'), 'utf8'));
const failed = report.testResults.flatMap((f) => f.assertionResults).filter((t) => t.status === 'failed');
for (const t of failed) console.log(`  failed: ${t.fullName}`);
console.log(`\nthe reference server passes ${MIN_PASSED}; inlet must pass at least as many`);
console.log(`conformance: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests + report.numTodoTests} skipped`);
rmSync(dataDir, { recursive: true, force: true });
if (brokerCode !== 0) {
  console.error(`conformance: the broker exited with ${brokerCode} on SIGTERM, not 0`);
  process.exit(1);
}
if (report.numPassedTests < MIN_PASSED) {
  console.error(`conformance: ${report.numPassedTests} passed is below the floor of ${MIN_PASSED}`);
  process.exit(1);
}
if (code !== 0 && report.numFailedTests === 0) process.exit(1); // vitest itself failed

/** `inlet serve` prints `listening on <url>` on stdout once it accepts connections. */
function waitForUrl(child) {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (chunk) => {
      buf += chunk;
      const m = buf.match(/listening on (http:\/\/[\d.:]+)/);
      if (m) resolve(m[1]);
    });
    child.on('exit', (c) => reject(new Error(`broker exited with ${c} before listening:\n${buf}`)));
  });
}
