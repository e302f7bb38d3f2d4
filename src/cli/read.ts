import { BrokerClient } from '../client/broker-client.js';
import { parseOffset } from '../journal/offsets.js';
import { parse, UsageError } from './args.js';

/** `inlet read JOURNAL [--offset N] [--follow]`: raw bytes to stdout; exits at the write head unless following. */
export async function read(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    broker: { type: 'string' },
    offset: { type: 'string', short: 'o' },
    follow: { type: 'boolean', short: 'f' },
  });
  const journal = positionals[0];
  if (!journal || positionals.length > 1) throw new UsageError('usage: inlet read JOURNAL [--offset N|-1|now] [--follow]');
  let offset: number | 'now';
  try {
    offset = parseOffset((values.offset as string | undefined) ?? '-1');
  } catch (err) {
    throw new UsageError(`--offset: ${(err as Error).message}`);
  }
  const client = new BrokerClient(values.broker as string | undefined);
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.stdout.on('error', () => abort.abort()); // e.g. EPIPE from `| head`
  try {
    for await (const chunk of client.read(journal, offset, { follow: values.follow === true, signal: abort.signal })) {
      if (!process.stdout.write(chunk.data)) await new Promise((r) => process.stdout.once('drain', r));
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  }
}
