import { BrokerClient } from '../client/broker-client.js';
import { parseSize } from '../units.js';
import { parse, UsageError } from './args.js';

/**
 * `inlet append JOURNAL`: appends stdin in batches of whole lines (up to --batch-size bytes,
 * or whatever arrived within --linger ms), one atomic append each, in order.
 */
export async function append(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    broker: { type: 'string' },
    token: { type: 'string' },
    'batch-size': { type: 'string' },
    'content-type': { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
  });
  const journal = positionals[0];
  if (!journal || positionals.length > 1) throw new UsageError('usage: inlet append JOURNAL [--batch-size 1MiB] < data');
  const batchSize = parseSize((values['batch-size'] as string | undefined) ?? '1MiB');
  if (!batchSize) throw new UsageError(`--batch-size: must be a size like 1MiB, got ${JSON.stringify(values['batch-size'])}`);
  const client = new BrokerClient(values.broker as string | undefined, { token: values.token as string | undefined });
  const contentType = (values['content-type'] as string | undefined) ?? (await client.head(journal)).contentType;

  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let appends = 0;
  let bytes = 0;
  let head = 0;
  const send = async (data: Buffer) => {
    if (data.length === 0) return;
    const r = await client.append(journal, data, contentType);
    appends++;
    bytes += data.length;
    head = r.end;
  };
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes < batchSize) continue;
    let all = Buffer.concat(pending);
    // Send batches of at most batchSize, cut after a newline so no line straddles two appends.
    while (all.length >= batchSize) {
      const nl = all.lastIndexOf(10, batchSize - 1);
      const cut = nl >= 0 ? nl + 1 : Math.max(all.indexOf(10, batchSize) + 1, 0) || all.length;
      await send(all.subarray(0, cut));
      all = all.subarray(cut);
    }
    pending = all.length ? [all] : [];
    pendingBytes = all.length;
  }
  await send(Buffer.concat(pending));
  if (!values.quiet) process.stderr.write(`appended ${bytes} bytes in ${appends} appends to ${journal}; write head ${head}\n`);
}
