import { readFile } from 'node:fs/promises';
import { BrokerClient } from '../client/broker-client.js';
import { InletError } from '../errors.js';
import { Selector } from '../protocol/selectors.js';
import { parse, UsageError } from './args.js';

const HELP = `Usage:
  inlet journals apply -f FILE [--dry-run] [--broker URL] [--token TOKEN]
  inlet journals list [-l SELECTOR] [--json] [--broker URL] [--token TOKEN]

A journals file lists specs under 'journals:' with optional shared 'defaults:' (see catalog/journals.yaml).
Selectors: a=b, c!=d, e in (x,y), f notin (z), g (has label), !h (lacks label), comma-separated.
`;

/** `inlet journals apply|list`. */
export async function journals(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'apply') return apply(rest);
  if (sub === 'list') return list(rest);
  if (sub === undefined || sub === '--help' || sub === '-h') return void process.stdout.write(HELP);
  throw new UsageError(`unknown journals command ${JSON.stringify(sub)} (expected apply or list)`);
}

async function apply(args: string[]): Promise<void> {
  const { values } = parse(args, { file: { type: 'string', short: 'f' }, 'dry-run': { type: 'boolean' }, broker: { type: 'string' }, token: { type: 'string' } }, false);
  const file = values.file as string | undefined;
  if (!file) throw new UsageError('journals apply: -f FILE is required');
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new UsageError(`-f: cannot read ${file}: ${err.message}`);
  });
  const client = new BrokerClient(values.broker as string | undefined, { token: values.token as string | undefined });
  const dryRun = values['dry-run'] === true;
  let results;
  try {
    results = await client.applyJournals(text, dryRun);
  } catch (err) {
    // The broker names fields (journals[2].fragment.length); prefix the file they came from.
    if (err instanceof InletError && err.code.startsWith('INVALID')) throw new InletError(err.code, `${file}: ${err.message.replace(/^request body: /, '')}`);
    throw err;
  }
  for (const r of results) process.stdout.write(`${dryRun ? '(dry run) ' : ''}${r.action.padEnd(9)} ${r.name}\n`);
}

async function list(args: string[]): Promise<void> {
  const { values } = parse(args, { selector: { type: 'string', short: 'l' }, json: { type: 'boolean' }, broker: { type: 'string' }, token: { type: 'string' } }, false);
  const selector = values.selector as string | undefined;
  if (selector) Selector.parse(selector); // a bad selector fails here, with exit code 2
  const client = new BrokerClient(values.broker as string | undefined, { token: values.token as string | undefined });
  const journals = await client.listJournals(selector);
  if (values.json) return void process.stdout.write(JSON.stringify(journals, null, 2) + '\n');
  const rows = journals.map((j) => [
    j.spec.name,
    Object.entries(j.spec.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-',
    String(j.writeHead),
  ]);
  const header = ['NAME', 'LABELS', 'WRITE HEAD'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows]) {
    process.stdout.write(r.map((c, i) => (i === r.length - 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ') + '\n');
  }
}
