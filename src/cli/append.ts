import { parseSize } from '../units.js';
import { brokerClient, UsageError } from './args.js';
import type { Parsed } from './command.js';
import { interruptible, loadFailure, reportInterrupted } from './load.js';
import { LoadProgress } from './progress.js';

/**
 * `inlet append JOURNAL`: appends stdin in batches of whole lines (up to --batch-size bytes),
 * one atomic append each, in order. On an NDJSON journal a last line without a newline gets one.
 */
export async function append({ values, positionals }: Parsed): Promise<void> {
  const journal = positionals[0]!;
  const batchSize = parseSize((values['batch-size'] as string | undefined) ?? '1MiB');
  if (!batchSize) throw new UsageError(`--batch-size: must be a size like 1MiB, got ${JSON.stringify(values['batch-size'])}`);
  const client = brokerClient(values);
  const contentType = (values['content-type'] as string | undefined) ?? (await client.head(journal)).contentType;
  const ndjson = /ndjson|jsonl|json-seq/.test(contentType);
  const progress = new LoadProgress(values.quiet === true);
  const resume = `resume with the input from line {next} on, e.g. tail -n +{next} FILE | inlet append ${journal}`;

  let appends = 0;
  let head = 0;
  const send = async (data: Buffer) => {
    if (data.length === 0) return;
    const r = await client.append(journal, data, contentType);
    appends++;
    head = r.end;
    const lines = countLines(data);
    progress.commit(data.length, lines, progress.lines + lines);
  };
  const interrupted = await interruptible(async (input) => {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    try {
      for await (const chunk of input) {
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
      const rest = Buffer.concat(pending);
      await send(ndjson && rest.length > 0 && rest[rest.length - 1] !== 10 ? Buffer.concat([rest, Buffer.from('\n')]) : rest);
    } catch (err) {
      throw loadFailure(err, progress, resume);
    } finally {
      progress.stop();
    }
  });
  if (interrupted) return reportInterrupted(progress, resume);
  if (!values.quiet) process.stderr.write(`appended ${progress.bytes} bytes (${progress.docs} lines) in ${appends} appends to ${journal}; write head ${head}\n`);
}

/** Lines in a batch: its newlines, plus an unterminated last line. */
function countLines(data: Buffer): number {
  let n = 0;
  for (let at = data.indexOf(10); at >= 0; at = data.indexOf(10, at + 1)) n++;
  return data[data.length - 1] === 10 ? n : n + 1;
}
