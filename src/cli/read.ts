import { BrokerClient } from '../client/broker-client.js';
import { parseOffset } from '../protocol/offsets.js';
import { Selector } from '../protocol/selectors.js';
import { JournalReader } from '../readers/journal-reader.js';
import { readDocuments } from '../readers/documents.js';
import { SelectorReader } from '../readers/selector-reader.js';
import type { Chunk } from '../readers/types.js';
import { readCollection } from '../collections/reader.js';
import { collectionSelector } from '../collections/partitions.js';
import { parse, UsageError } from './args.js';
import { Progress } from './progress.js';

const USAGE =
  'usage: inlet read <JOURNAL | -l SELECTOR | --collection NAME [--partition FIELD=VALUE]…> [--offset N|-1|now] [--follow] [--docs] [--via-broker] [--allow-jumps]';

/**
 * `inlet read`: a journal's bytes (or, with -l, every matching journal's) to stdout, history
 * from the lake and then, with --follow, live appends. --docs prints one JSON document per line
 * prefixed with its journal and offsets. A progress bar goes to stderr when it is a terminal.
 */
export async function read(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    broker: { type: 'string' },
    token: { type: 'string' },
    offset: { type: 'string', short: 'o' },
    follow: { type: 'boolean', short: 'f' },
    selector: { type: 'string', short: 'l' },
    docs: { type: 'boolean' },
    'via-broker': { type: 'boolean' },
    'allow-jumps': { type: 'boolean' },
    collection: { type: 'string', short: 'c' },
    partition: { type: 'string', short: 'p', multiple: true },
  });
  const selector = values.selector as string | undefined;
  const collection = values.collection as string | undefined;
  if (selector !== undefined) Selector.parse(selector);
  if ([selector, collection, positionals[0]].filter((x) => x !== undefined).length !== 1 || positionals.length > 1) throw new UsageError(USAGE);
  const partitions: Record<string, string> = {};
  for (const p of (values.partition as unknown as string[] | undefined) ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError(`--partition: must be FIELD=VALUE, got ${JSON.stringify(p)}`);
    partitions[p.slice(0, eq)] = p.slice(eq + 1);
  }
  if (Object.keys(partitions).length > 0 && collection === undefined) throw new UsageError('--partition: needs --collection');
  // Committed documents come out at their transaction's ACK, so a byte offset is no place to resume a collection.
  if (collection !== undefined && values.offset !== undefined) throw new UsageError('--offset: a collection is read from its beginning');
  let offset: number | 'now';
  try {
    offset = parseOffset((values.offset as string | undefined) ?? '-1');
  } catch (err) {
    throw new UsageError(`--offset: ${(err as Error).message}`);
  }
  const client = new BrokerClient(values.broker as string | undefined, { token: values.token as string | undefined });
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.stdout.on('error', () => abort.abort()); // e.g. EPIPE from `| head`
  const opts = {
    offset,
    follow: values.follow === true,
    direct: values['via-broker'] ? ('never' as const) : ('auto' as const),
    allowJumps: values['allow-jumps'] === true,
    onJump: (j: { journal: string; from: number; to: number }) => process.stderr.write(`inlet: ${j.journal}: history [${j.from}, ${j.to}) is gone; skipped to ${j.to}\n`),
    signal: abort.signal,
  };
  const write = async (data: Buffer | string) => {
    if (!process.stdout.write(data)) await new Promise((r) => process.stdout.once('drain', r));
  };
  if (collection !== undefined) {
    const sel = collectionSelector(collection, partitions);
    const progress = process.stderr.isTTY ? await Progress.start(client, { selector: sel }, offset) : undefined;
    try {
      for await (const d of readCollection(client, collection, { ...opts, partitions })) {
        progress?.advance(d.journal, d.end - d.begin);
        await write(values.docs ? `${d.journal}\t${d.begin}\t${d.end}\t${JSON.stringify(d.doc)}\n` : `${JSON.stringify(d.doc)}\n`);
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    } finally {
      progress?.stop();
    }
    return;
  }
  const chunks: AsyncIterable<Chunk> = selector !== undefined ? new SelectorReader(client, selector, opts) : new JournalReader(client, positionals[0]!, opts);
  const progress = process.stderr.isTTY ? await Progress.start(client, selector !== undefined ? { selector } : { journal: positionals[0]! }, offset) : undefined;
  try {
    if (values.docs) {
      for await (const d of readDocuments(chunks)) {
        progress?.advance(d.journal, d.end - d.begin);
        await write(`${d.journal}\t${d.begin}\t${d.end}\t${JSON.stringify(d.doc)}\n`);
      }
    } else {
      for await (const c of chunks) {
        progress?.advance(c.journal, c.data.length);
        await write(c.data);
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  } finally {
    progress?.stop();
  }
}
