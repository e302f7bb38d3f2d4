import { randomUUID } from 'node:crypto';
import { InletError } from '../errors.js';
import { retry } from '../retry.js';
import { brokerClient, intFlag, UsageError } from './args.js';
import type { Parsed } from './command.js';
import { LoadProgress } from './progress.js';
import { interruptible, loadFailure, reportInterrupted } from './load.js';

/** Failures a retry of the same transaction can fix: the broker unreachable, busy or restarting. */
const RETRYABLE = new Set(['IO_ERROR', 'SHUTTING_DOWN', 'STORE_BACKLOG', 'STORE_UNAVAILABLE', 'STORAGE_FULL']);

/**
 * `inlet ingest COLLECTION`: NDJSON documents from stdin, --batch documents per transaction.
 * Transaction k of a run carries the producer id and sequence number k, so a retry after a lost
 * response or a broker restart is written once; and since the same input and --batch cut the
 * same transactions, a rerun with the same --producer skips those the broker says it committed
 * (its last sequence number) and writes the rest: every document exactly once.
 */
export async function ingest({ values, positionals }: Parsed): Promise<void> {
  const collection = positionals[0]!;
  const batch = intFlag(values.batch as string | undefined, '--batch') ?? 1000;
  if (batch < 1) throw new UsageError('--batch: must be at least 1');
  const client = brokerClient(values);
  const named = values.producer as string | undefined;
  const producer = named ?? `inlet-ingest-${randomUUID()}`;
  const progress = new LoadProgress(values.quiet === true);
  const resume = named
    ? `rerun the same command (same input, --producer ${named}${values.batch ? ` --batch ${batch}` : ''}) to write the rest exactly once`
    : `resume with the input from line {next} on, e.g. tail -n +{next} FILE | inlet ingest ${collection} (or name the load with --producer ID next time, and rerun it as is)`;

  let seq = 0;
  /** Transactions through this sequence number were committed by an earlier run of this producer. */
  let committedEarlier = 0;
  let skipped = 0;
  let lineNo = 0;
  let docs: unknown[] = [];
  /** The input line of each document of the batch, for errors. */
  let docLines: number[] = [];
  let batchBytes = 0;
  let stored = 0;
  const journals = new Map<string, number>();

  const send = async () => {
    if (docs.length === 0) return;
    seq++;
    if (seq > committedEarlier) await commit();
    if (seq <= committedEarlier) skipped += docs.length;
    progress.commit(batchBytes, docs.length, docLines[docLines.length - 1]!);
    docs = [];
    docLines = [];
    batchBytes = 0;
  };

  /** Sends the batch as transaction `seq`; learns from the broker which transactions an earlier run committed. */
  const commit = async () => {
    try {
      const { result, attempt } = await retry((attempt) => client.ingest({ [collection]: docs }, { id: producer, seq }).then((result) => ({ result, attempt })), {
        retryable: (err, attempt) => err instanceof InletError && RETRYABLE.has(err.code) && attempt < 8,
        onRetry: (err, _, delay) => process.stderr.write(`inlet: ${(err as Error).message}; retrying in ${delay} ms\n`),
      });
      // A duplicate answer to a first attempt: an earlier run of this producer committed this transaction.
      if (result.duplicate && attempt === 1) {
        if (result.received !== docs.length) throw otherInput(producer, seq, result.received, docs.length);
        committedEarlier = seq;
      }
      else {
        stored += result.stored;
        for (const [j, end] of Object.entries(result.journals)) journals.set(j, end);
      }
    } catch (err) {
      // Behind the producer's last committed transaction: the broker names it, and the rest up to it is committed too.
      if (err instanceof InletError && err.code === 'SEQUENCE_CONFLICT' && typeof err.details?.lastSeq === 'number') committedEarlier = err.details.lastSeq;
      else if (err instanceof InletError && err.details?.index !== undefined) {
        throw new InletError(err.code, `line ${docLines[err.details.index as number]}: ${err.message}`);
      } else throw err;
    }
  };

  const take = (line: string) => {
    lineNo++;
    if (line.trim() === '') return;
    try {
      docs.push(JSON.parse(line));
    } catch (err) {
      throw new InletError('INVALID_DOCUMENT', `line ${lineNo}: not JSON: ${(err as Error).message}`);
    }
    docLines.push(lineNo);
    batchBytes += Buffer.byteLength(line) + 1;
  };

  const interrupted = await interruptible(async (input) => {
    try {
      let carry = '';
      for await (const chunk of input) {
        const lines = (carry + chunk.toString('utf8')).split('\n');
        carry = lines.pop()!;
        for (const line of lines) {
          take(line);
          if (docs.length >= batch) await send();
        }
      }
      take(carry);
      await send();
    } catch (err) {
      throw loadFailure(err, progress, resume);
    } finally {
      progress.stop();
    }
  });
  if (interrupted) return reportInterrupted(progress, resume);
  if (values.quiet) return;
  const resumed = skipped > 0 ? `; skipped ${skipped} documents an earlier run of producer ${producer} committed` : '';
  process.stderr.write(
    `ingested ${progress.docs} documents (${stored} after combining by key) in ${seq} transactions into ${journals.size} journals${resumed}; ${progress.describe()}\n`,
  );
  for (const [j, end] of [...journals].sort()) process.stderr.write(`  ${j}\t${end}\n`);
}

/** A rerun of a named load whose input is not what the earlier run sent: resuming would skip documents never written. */
function otherInput(producer: string, seq: number, committed: number, now: number): InletError {
  return new InletError(
    'SEQUENCE_CONFLICT',
    `producer ${producer} committed transaction ${seq} in an earlier run with ${committed} documents, this input's has ${now}: resume with the same input and --batch, or give this load a new --producer`,
  );
}
