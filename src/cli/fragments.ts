import { createHash } from 'node:crypto';
import type { BrokerClient, FragmentInfo } from '../client/broker-client.js';
import { decompressor } from '../fragments/codecs.js';
import { openStore } from '../fragments/stores/index.js';
import { parseByteOffset } from '../protocol/offsets.js';
import { Selector } from '../protocol/selectors.js';
import { brokerClient, UsageError } from './args.js';
import type { Parsed } from './command.js';
import { ddl } from './ddl.js';

/**
 * `inlet fragments list|prune|verify|flush <JOURNAL | -l SELECTOR>` and `inlet fragments ddl PREFIX`.
 * A selector that matches no journal says so on stderr.
 */
export async function fragments(sub: string, { values, positionals }: Parsed): Promise<void> {
  const client = brokerClient(values);
  if (sub === 'ddl') {
    const dialect = (values.dialect as string | undefined) ?? 'athena';
    if (dialect !== 'athena' && dialect !== 'spark') throw new UsageError(`--dialect: must be athena or spark, got ${JSON.stringify(dialect)}`);
    process.stdout.write(await ddl(client, positionals[0]!, dialect, values.location as string | undefined, values.table as string | undefined));
    return;
  }
  const selector = values.selector as string | undefined;
  if (selector !== undefined) Selector.parse(selector);
  if ((selector === undefined) === (positionals.length !== 1)) throw new UsageError(`fragments ${sub}: give one journal or -l SELECTOR`);
  const which = selector !== undefined ? { selector } : { journal: positionals[0]! };
  // One journal that does not exist is an error of the broker's; a selector may match nothing.
  if (selector !== undefined && (await client.listJournals(selector)).length === 0) {
    process.stderr.write(`inlet: no journal matches ${JSON.stringify(selector)}\n`);
    if (sub === 'verify') process.exitCode = 1;
    return;
  }
  switch (sub) {
    case 'list':
      return list(client, which, values.json === true, values.signed === true);
    case 'prune':
      return prune(client, which, values.yes !== true, values.below === undefined ? undefined : belowFlag(values.below as string));
    case 'verify':
      return verify(client, which);
    case 'flush': {
      const flushed = await client.flushFragments(which);
      for (const j of flushed) process.stdout.write(`${j.journal}: persisted through ${j.persistedThrough}\n`);
      return;
    }
    default:
      throw new UsageError(`unknown fragments command ${JSON.stringify(sub)}`);
  }
}

async function list(client: BrokerClient, which: { journal?: string; selector?: string }, json: boolean, signed: boolean): Promise<void> {
  const journals = await client.listFragments(which, signed);
  if (json) return void process.stdout.write(JSON.stringify(journals, null, 2) + '\n');
  const rows = [['JOURNAL', 'BEGIN', 'END', 'SIZE', 'COMPRESSED', 'CODEC', 'MODIFIED', 'LOCATION']];
  for (const j of journals) {
    for (const f of j.fragments) {
      rows.push([j.journal, String(f.begin), String(f.end), String(f.size), String(f.compressedSize), f.codec, f.modified, signed && f.url ? f.url : f.location]);
    }
    for (const s of j.spools) rows.push([j.journal, String(s.begin), String(s.end), String(s.end - s.begin), '-', '-', s.sealed ? 'uploading' : 'spooling', '(broker disk)']);
    for (const g of j.gaps) process.stderr.write(`warning: ${j.journal}: no fragment covers [${g.begin}, ${g.end})\n`);
  }
  printTable(rows);
}

function belowFlag(text: string): number {
  try {
    return parseByteOffset(text, '--below');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function prune(client: BrokerClient, which: { journal?: string; selector?: string }, dryRun: boolean, below: number | undefined): Promise<void> {
  const pruned = await client.pruneFragments(which, dryRun, below);
  for (const p of pruned) process.stdout.write(`${dryRun ? 'would delete' : 'deleted'} ${p.journal} [${p.begin}, ${p.end}) ${p.location}\n`);
  const what = below === undefined ? 'older than retention' : `wholly below offset ${below}`;
  process.stderr.write(`${pruned.length} fragment(s) ${dryRun ? `${what} (dry run; --yes deletes them)` : 'deleted'}\n`);
}

async function verify(client: BrokerClient, which: { journal?: string; selector?: string }): Promise<void> {
  let bad = 0;
  let checked = 0;
  for (const j of await client.listFragments(which)) {
    for (const f of j.fragments) {
      checked++;
      const problem = await verifyOne(f);
      if (problem) bad++;
      process.stdout.write(`${problem ? 'BAD' : 'ok '} ${j.journal} [${f.begin}, ${f.end}) ${f.location}${problem ? `: ${problem}` : ''}\n`);
    }
  }
  process.stderr.write(`${checked} fragment(s) checked, ${bad} bad\n`);
  if (bad > 0) process.exitCode = 1;
}

/** Decompresses a fragment straight from its store; returns what is wrong with it, if anything. */
async function verifyOne(f: FragmentInfo): Promise<string | undefined> {
  try {
    const hash = createHash('sha1');
    let size = 0;
    const raw = await openStore(f.store).open(f.key);
    for await (const chunk of raw.pipe(decompressor(f.codec)) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    if (size !== f.end - f.begin) return `holds ${size} bytes, its name says ${f.end - f.begin}`;
    const sum = hash.digest('hex');
    if (sum !== f.sha1) return `SHA-1 is ${sum}, its name says ${f.sha1}`;
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ') + '\n');
}
