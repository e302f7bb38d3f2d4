#!/usr/bin/env node
// Group commits of many journals fsync in parallel on libuv's pool; the default 4 threads is too few.
process.env.UV_THREADPOOL_SIZE ??= '16';

import { readFileSync } from 'node:fs';
import { InletError } from '../errors.js';
import { exitCodeFor, UsageError } from './args.js';
import { dispatch } from './command.js';
import { inlet } from './commands.js';

/** The package's version (dist/src/cli/main.js sits three levels below package.json). */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** Stack traces are for debugging: shown with --log-level debug|trace (or INLET_LOG_LEVEL). */
function debugging(argv: readonly string[]): boolean {
  const at = argv.findIndex((a) => a === '--log-level' || a.startsWith('--log-level='));
  const level = at < 0 ? process.env.INLET_LOG_LEVEL : argv[at]!.includes('=') ? argv[at]!.split('=')[1] : argv[at + 1];
  return level === 'debug' || level === 'trace';
}

const argv = process.argv.slice(2);
const run = argv[0] === '--version' || argv[0] === '-V' ? Promise.resolve(void process.stdout.write(`${version()}\n`)) : dispatch(inlet, argv);
run.catch((err: unknown) => {
  const known = err instanceof InletError || err instanceof UsageError;
  const message = known ? err.message : ((err as Error)?.message ?? String(err)).split('\n')[0];
  process.stderr.write(`inlet: ${message}\n`);
  if (debugging(argv) && (err as Error)?.stack) process.stderr.write(`${(err as Error).stack}\n`);
  // Whatever a failed start left open (sockets, timers) must not keep the process alive.
  process.exit(exitCodeFor(err));
});
