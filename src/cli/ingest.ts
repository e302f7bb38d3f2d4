import { randomUUID } from 'node:crypto';
import { BrokerClient } from '../client/broker-client.js';
import { InletError } from '../errors.js';
import { retry } from '../retry.js';
import { intFlag, parse, UsageError } from './args.js';

const USAGE = 'usage: inlet ingest COLLECTION [--batch N] [--producer ID] < documents.ndjson';

/** Failures a retry of the same transaction can fix: the broker unreachable, busy or restarting. */
const RETRYABLE = new Set(['IO_ERROR', 'SHUTTING_DOWN', 'STORE_BACKLOG', 'STORE_UNAVAILABLE', 'STORAGE_FULL']);

/**
 * `inlet ingest COLLECTION`: NDJSON documents from stdin, --batch documents per transaction.
 * Each transaction carries this run's producer id and a sequence number, so one retried after a
 * lost response or a broker restart is written exactly once.
 */
export async function ingest(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    broker: { type: 'string' },
    token: { type: 'string' },
    batch: { type: 'string' },
    producer: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
  });
  const collection = positionals[0];
  if (!collection || positionals.length > 1) throw new UsageError(USAGE);
  const batch = intFlag(values.batch as string | undefined, '--batch') ?? 1000;
  if (batch < 1) throw new UsageError('--batch: must be at least 1');
  const client = new BrokerClient(values.broker as string | undefined, { token: values.token as string | undefined });
  const producer = (values.producer as string | undefined) ?? `inlet-ingest-${randomUUID()}`;

  let seq = 0;
  let lineNo = 0;
  let docs: unknown[] = [];
  /** The input line of each document of the batch, for errors. */
  let docLines: number[] = [];
  let received = 0;
  let stored = 0;
  const journals = new Map<string, number>();
  const send = async () => {
    if (docs.length === 0) return;
    seq++;
    try {
      const r = await retry(
        async (attempt) => {
          const r = await client.ingest({ [collection]: docs }, { id: producer, seq });
          // A duplicate answer to a first attempt means an earlier run of this producer committed this seq.
          if (r.duplicate && attempt === 1) throw reusedProducer(producer, seq);
          return r;
        },
        {
          retryable: (err, attempt) => err instanceof InletError && RETRYABLE.has(err.code) && attempt < 8,
          onRetry: (err, _, delay) => process.stderr.write(`inlet: ${(err as Error).message}; retrying in ${delay} ms\n`),
        },
      );
      received += docs.length;
      stored += r.stored;
      for (const [j, end] of Object.entries(r.journals)) journals.set(j, end);
    } catch (err) {
      if (err instanceof InletError && err.code === 'SEQUENCE_CONFLICT') throw reusedProducer(producer, seq);
      if (err instanceof InletError && err.details?.index !== undefined) {
        throw new InletError(err.code, `line ${docLines[err.details.index as number]}: ${err.message}`);
      }
      throw err;
    }
    docs = [];
    docLines = [];
  };

  let carry = '';
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    const lines = (carry + chunk.toString('utf8')).split('\n');
    carry = lines.pop()!;
    for (const line of lines) {
      await take(line);
      if (docs.length >= batch) await send();
    }
  }
  await take(carry);
  await send();
  if (!values.quiet) {
    process.stderr.write(`ingested ${received} documents (${stored} after combining by key) in ${seq} transactions into ${journals.size} journals\n`);
    for (const [j, end] of [...journals].sort()) process.stderr.write(`  ${j}\t${end}\n`);
  }

  async function take(line: string): Promise<void> {
    lineNo++;
    if (line.trim() === '') return;
    try {
      docs.push(JSON.parse(line));
      docLines.push(lineNo);
    } catch (err) {
      throw new InletError('INVALID_DOCUMENT', `line ${lineNo}: not JSON: ${(err as Error).message}`);
    }
  }
}

function reusedProducer(producer: string, seq: number): InletError {
  return new InletError(
    'SEQUENCE_CONFLICT',
    `producer ${producer} already committed transaction ${seq} in an earlier run; give each run its own --producer (the default is a new one per run)`,
  );
}
