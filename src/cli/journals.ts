import { readFile } from 'node:fs/promises';
import { InletError } from '../errors.js';
import { Selector } from '../protocol/selectors.js';
import { brokerClient, UsageError } from './args.js';
import type { Parsed } from './command.js';
import { printTable } from './fragments.js';

const clientOf = brokerClient;

/** `inlet journals apply -f FILE [--dry-run]`: creates or updates the file's journals, all or none. */
export async function apply({ values }: Parsed): Promise<void> {
  const file = values.file as string | undefined;
  if (!file) throw new UsageError('journals apply: -f FILE is required');
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new UsageError(`-f: cannot read ${file}: ${err.message}`);
  });
  const dryRun = values['dry-run'] === true;
  let results;
  try {
    results = await clientOf(values).applyJournals(text, dryRun);
  } catch (err) {
    // The broker names fields (journals[2].fragment.length); prefix the file they came from.
    if (err instanceof InletError && err.code.startsWith('INVALID')) throw new InletError(err.code, `${file}: ${err.message.replace(/^request body: /, '')}`);
    throw err;
  }
  for (const r of results) process.stdout.write(`${dryRun ? '(dry run) ' : ''}${r.action.padEnd(9)} ${r.name}\n`);
}

/** `inlet journals create NAME [--content-type T] [-l k=v]…`: fails if the journal exists. */
export async function create({ values, positionals }: Parsed): Promise<void> {
  const name = positionals[0]!;
  const labels: Record<string, string> = {};
  for (const l of (values.label as string[] | undefined) ?? []) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new UsageError(`--label: must be KEY=VALUE, got ${JSON.stringify(l)}`);
    labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const spec = { name, labels, contentType: (values['content-type'] as string | undefined) ?? 'application/octet-stream' };
  // JSON is YAML: the journals file route takes it as is.
  const file = JSON.stringify({ journals: [spec] });
  const client = clientOf(values);
  const [planned] = await client.applyJournals(file, true);
  if (planned?.action !== 'created') throw new InletError('JOURNAL_EXISTS', `journal ${name} exists (journals apply updates specs)`);
  await client.applyJournals(file, false);
  process.stdout.write(`created ${name}\n`);
}

/** `inlet journals list [-l SELECTOR]`: name, labels and write head; says so on stderr when none match. */
export async function list({ values }: Parsed): Promise<void> {
  const selector = values.selector as string | undefined;
  if (selector) Selector.parse(selector); // a bad selector fails here, with exit code 2
  const journals = await clientOf(values).listJournals(selector);
  if (journals.length === 0) process.stderr.write(selector ? `inlet: no journal matches ${JSON.stringify(selector)}\n` : 'inlet: the broker has no journals\n');
  if (values.json) return void process.stdout.write(JSON.stringify(journals, null, 2) + '\n');
  if (journals.length === 0) return;
  const rows = journals.map((j) => [
    j.spec.name,
    Object.entries(j.spec.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-',
    String(j.writeHead),
  ]);
  printTable([['NAME', 'LABELS', 'WRITE HEAD'], ...rows]);
}

/** `inlet journals describe NAME`: spec, write head, fragments (count, bytes) and spools. */
export async function describe({ values, positionals }: Parsed): Promise<void> {
  const name = positionals[0]!;
  const client = clientOf(values);
  const info = (await client.listJournals()).find((j) => j.spec.name === name);
  if (!info) throw new InletError('JOURNAL_NOT_FOUND', `journal ${name} does not exist`);
  const [frags] = await client.listFragments({ journal: name });
  const fragments = frags?.fragments ?? [];
  const summary = {
    ...info,
    fragments: {
      count: fragments.length,
      bytes: fragments.reduce((n, f) => n + f.size, 0),
      compressedBytes: fragments.reduce((n, f) => n + f.compressedSize, 0),
      persistedThrough: fragments.reduce((n, f) => Math.max(n, f.end), 0),
    },
    spools: frags?.spools ?? [],
    gaps: frags?.gaps ?? [],
  };
  if (values.json) return void process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  const { spec } = info;
  const f = summary.fragments;
  const out = [
    `name          ${spec.name}`,
    `content type  ${spec.contentType}`,
    `labels        ${Object.entries(spec.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '-'}`,
    `write head    ${info.writeHead}${info.closed ? ' (closed)' : ''}`,
    `fragments     ${f.count} in the store: ${f.bytes} bytes (${f.compressedBytes} compressed), through offset ${f.persistedThrough}`,
    `spools        ${summary.spools.map((s) => `[${s.begin}, ${s.end})${s.sealed ? ' uploading' : ''}`).join(', ') || '-'}`,
    `fragment      ${JSON.stringify(spec.fragment)}`,
  ];
  for (const g of summary.gaps) out.push(`warning: no fragment covers [${g.begin}, ${g.end})`);
  process.stdout.write(out.join('\n') + '\n');
}

/** `inlet journals delete NAME`. */
export async function remove({ values, positionals }: Parsed): Promise<void> {
  await clientOf(values).deleteJournal(positionals[0]!);
  process.stdout.write(`deleted ${positionals[0]}\n`);
}
