import { ReaderError, type Chunk, type Document } from './types.js';

/**
 * Splits a journal's chunks into NDJSON documents with the offsets of their lines. A reader
 * resumed at a document's `end` yields exactly the documents after it. A line that is not JSON
 * fails with INVALID_CONTENT naming the journal and offset.
 */
export async function* readDocuments<T = unknown>(chunks: AsyncIterable<Chunk>): AsyncGenerator<Document<T>> {
  for await (const batch of readDocumentBatches<T>(chunks)) yield* batch;
}

/**
 * The documents of `readDocuments`, each chunk's complete lines as one array (never empty):
 * one step of the iterator per chunk rather than per document, for readers that go through
 * many documents. A line that is not JSON ends it with INVALID_CONTENT, after the documents
 * before it.
 */
export async function* readDocumentBatches<T = unknown>(chunks: AsyncIterable<Chunk>): AsyncGenerator<Document<T>[]> {
  // Partial lines per journal: chunks of several journals may interleave.
  const carry = new Map<string, { offset: number; data: Buffer }>();
  for await (const c of chunks) {
    const held = carry.get(c.journal);
    const buf = held ? Buffer.concat([held.data, c.data]) : c.data;
    const base = held ? held.offset : c.offset;
    const out: Document<T>[] = [];
    let at = 0;
    for (let nl = buf.indexOf(10, at); nl >= 0; nl = buf.indexOf(10, at)) {
      let doc: T;
      try {
        doc = JSON.parse(buf.toString('utf8', at, nl)) as T;
      } catch (err) {
        if (out.length > 0) yield out;
        throw new ReaderError('INVALID_CONTENT', `journal ${c.journal}: the line at offset ${base + at} is not JSON: ${(err as Error).message}`, {
          details: { journal: c.journal, offset: base + at },
        });
      }
      out.push({ journal: c.journal, begin: base + at, end: base + nl + 1, doc });
      at = nl + 1;
    }
    if (at < buf.length) carry.set(c.journal, { offset: base + at, data: buf.subarray(at) });
    else carry.delete(c.journal);
    if (out.length > 0) yield out;
  }
}
