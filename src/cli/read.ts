import { readFile } from 'node:fs/promises';
import { parseOffset } from '../protocol/offsets.js';
import { Selector } from '../protocol/selectors.js';
import { JournalReader } from '../readers/journal-reader.js';
import { readDocuments } from '../readers/documents.js';
import { SelectorReader } from '../readers/selector-reader.js';
import type { Chunk } from '../readers/types.js';
import { readCollection, type ReadCheckpoint } from '../collections/reader.js';
import { collectionSelector } from '../collections/partitions.js';
import { writeFileAtomic } from '../journal/fsutil.js';
import { brokerClient, UsageError } from './args.js';
import type { Parsed } from './command.js';
import { Progress } from './progress.js';

const USAGE =
  'usage: inlet read <JOURNAL | -l SELECTOR | --collection NAME [--partition FIELD=VALUE]… [--checkpoint FILE]> [--offset N|-1|now] [--follow] [--docs] [--via-broker] [--allow-jumps]';

/**
 * `inlet read`: a journal's bytes (or, with -l, every matching journal's) to stdout, history
 * from the lake and then, with --follow, live appends. --docs prints one JSON document per line
 * prefixed with its journal and offsets. A progress bar goes to stderr when it is a terminal.
 */
export async function read({ values, positionals }: Parsed): Promise<void> {
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
  const checkpointFile = values.checkpoint as string | undefined;
  if (checkpointFile !== undefined && collection === undefined) throw new UsageError('--checkpoint: needs --collection');
  // Committed documents come out at their transaction's ACK, so a byte offset is no place to resume a collection.
  if (collection !== undefined && values.offset !== undefined) throw new UsageError('--offset: a collection is read from its beginning');
  let offset: number | 'now';
  try {
    offset = parseOffset((values.offset as string | undefined) ?? '-1');
  } catch (err) {
    throw new UsageError(`--offset: ${(err as Error).message}`);
  }
  const client = brokerClient(values);
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
    const checkpoint = checkpointFile === undefined ? undefined : await readCheckpoint(checkpointFile);
    const reader = readCollection(client, collection, { ...opts, partitions, ...(checkpoint ? { checkpoint } : {}) });
    try {
      for await (const d of reader) {
        progress?.advance(d.journal, d.end - d.begin);
        await write(values.docs ? `${d.journal}\t${d.begin}\t${d.end}\t${JSON.stringify(d.doc)}\n` : `${JSON.stringify(d.doc)}\n`);
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    } finally {
      progress?.stop();
      // Where the output stopped, also after Ctrl-C: a next run with this file prints what follows.
      if (checkpointFile !== undefined) await writeFileAtomic(checkpointFile, JSON.stringify(reader.checkpoint()) + '\n');
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

/** A checkpoint file of an earlier `inlet read --collection --checkpoint`; a missing file starts from the beginning. */
async function readCheckpoint(file: string): Promise<ReadCheckpoint | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`--checkpoint: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const cp = JSON.parse(text) as unknown;
    if (typeof cp !== 'object' || cp === null || Array.isArray(cp)) throw new Error('not a JSON object');
    return cp as ReadCheckpoint;
  } catch (err) {
    throw new UsageError(`--checkpoint: ${file} is not a checkpoint: ${(err as Error).message}`);
  }
}
