import { isAscii } from 'node:buffer';
import { ReaderError, type Chunk, type Document } from './types.js';

/**
 * Splits a journal's chunks into NDJSON documents with the offsets of their lines. A reader
 * resumed at a document's `end` yields exactly the documents after it. A line that is not JSON
 * fails with INVALID_CONTENT naming the journal and offset.
 */
export async function* readDocuments<T = unknown>(chunks: AsyncIterable<Chunk>): AsyncGenerator<Document<T>> {
  for await (const batch of readDocumentBatches<T>(chunks)) yield* batch;
}

export interface DocumentBatchOptions {
  /**
   * Keep each document's `line`, and parse it only when its `doc` is first read (then a line
   * that is not JSON fails there, with the same INVALID_CONTENT): for readers that hand most
   * documents on as text, or look at a few fields of them only.
   */
  lines?: boolean;
}

/**
 * The documents of `readDocuments`, each chunk's complete lines as one array (never empty):
 * one step of the iterator per chunk rather than per document, for readers that go through
 * many documents. A line that is not JSON ends it with INVALID_CONTENT, after the documents
 * before it.
 */
export async function* readDocumentBatches<T = unknown>(chunks: AsyncIterable<Chunk>, opts: DocumentBatchOptions = {}): AsyncGenerator<Document<T>[]> {
  const make = opts.lines ? (journal: string, begin: number, end: number, line: string) => new LineDocument<T>(journal, begin, end, line) : parsedDocument<T>;
  // Partial lines per journal: chunks of several journals may interleave.
  const carry = new Map<string, { offset: number; data: Buffer }>();
  for await (const c of chunks) {
    const out: Document<T>[] = [];
    let data = c.data;
    let base = c.offset;
    try {
      const held = carry.get(c.journal);
      if (held) {
        // The held start of a line and this chunk's first line: the rest of the chunk is not copied.
        const nl = data.indexOf(10);
        if (nl < 0) {
          carry.set(c.journal, { offset: held.offset, data: Buffer.concat([held.data, data]) });
          continue;
        }
        out.push(make(c.journal, held.offset, base + nl + 1, Buffer.concat([held.data, data.subarray(0, nl)]).toString('utf8')));
        data = data.subarray(nl + 1);
        base += nl + 1;
      }
      let at = 0;
      if (isAscii(data)) {
        // ASCII: its characters are its bytes. Decoded a window of whole lines at a time (large
        // strings cost far more per byte), and each line is a slice of its window.
        for (;;) {
          let last = data.lastIndexOf(10, Math.min(data.length, at + DECODE_WINDOW) - 1);
          if (last < at) last = data.indexOf(10, at + DECODE_WINDOW);
          if (last < 0) break;
          const text = data.toString('latin1', at, last + 1);
          const from = base + at;
          for (let i = 0, nl = text.indexOf('\n'); nl >= 0; i = nl + 1, nl = text.indexOf('\n', i)) {
            out.push(make(c.journal, from + i, from + nl + 1, text.slice(i, nl)));
          }
          at = last + 1;
        }
      } else {
        for (let nl = data.indexOf(10, at); nl >= 0; nl = data.indexOf(10, at)) {
          out.push(make(c.journal, base + at, base + nl + 1, data.toString('utf8', at, nl)));
          at = nl + 1;
        }
      }
      if (at < data.length) carry.set(c.journal, { offset: base + at, data: data.subarray(at) });
      else carry.delete(c.journal);
    } catch (err) {
      if (out.length > 0) yield out;
      throw err;
    }
    if (out.length > 0) yield out;
  }
}

/** Bytes of lines decoded at once. */
const DECODE_WINDOW = 32 * 1024;

/** A document parsed as it is read. */
function parsedDocument<T>(journal: string, begin: number, end: number, line: string): Document<T> {
  return { journal, begin, end, doc: parseLine<T>(journal, begin, line) };
}

/** A document that keeps its line, and parses it when `doc` is first read. */
class LineDocument<T> implements Document<T> {
  private parsed: T | undefined;

  constructor(
    readonly journal: string,
    readonly begin: number,
    readonly end: number,
    readonly line: string,
  ) {}

  get doc(): T {
    return (this.parsed ??= parseLine<T>(this.journal, this.begin, this.line));
  }
}

function parseLine<T>(journal: string, begin: number, line: string): T {
  try {
    return JSON.parse(line) as T;
  } catch (err) {
    throw new ReaderError('INVALID_CONTENT', `journal ${journal}: the line at offset ${begin} is not JSON: ${(err as Error).message}`, {
      details: { journal, offset: begin },
    });
  }
}
