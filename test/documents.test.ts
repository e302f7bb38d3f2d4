import test from 'ava';
import fc from 'fast-check';
import { readDocumentBatches } from '../src/readers/documents.js';
import { ReaderError, type Chunk } from '../src/readers/types.js';

async function* chunksOf(journal: string, bytes: Buffer, cuts: number[]): AsyncGenerator<Chunk> {
  let at = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b).concat(bytes.length)) {
    if (cut > at) yield { journal, offset: at, data: bytes.subarray(at, cut), source: 'broker' };
    at = Math.max(at, cut);
  }
}

async function collect(chunks: AsyncIterable<Chunk>, lines: boolean) {
  const out: { begin: number; end: number; doc: unknown; line: string | undefined }[] = [];
  for await (const batch of readDocumentBatches(chunks, { lines })) for (const d of batch) out.push({ begin: d.begin, end: d.end, doc: d.doc, line: d.line });
  return out;
}

// Documents of ASCII and of other characters, short and longer than a decode window, split anywhere.
const docArb = fc.record({ s: fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constant('x'.repeat(70_000))), n: fc.integer() });

test('documents come out with their lines and byte offsets, however the bytes are chunked, in either mode', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(docArb, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), async (docs, cuts, lines) => {
      const texts = docs.map((d) => JSON.stringify(d));
      const bytes = Buffer.from(texts.map((l) => `${l}\n`).join(''));
      const got = await collect(chunksOf('j', bytes, cuts), lines);
      let at = 0;
      const want = texts.map((l, i) => {
        const end = at + Buffer.byteLength(l) + 1;
        const w = { begin: at, end, doc: docs[i], line: lines ? l : undefined };
        at = end;
        return w;
      });
      t.deepEqual(got, want);
    }),
    { numRuns: 150 },
  );
});

test('a line that is not JSON fails naming journal and offset: at once, or (lines) where its document is read', async (t) => {
  const bytes = Buffer.from('{"a":1}\n{"a":\n{"a":3}\n');
  const err = await t.throwsAsync(collect(chunksOf('acme/x', bytes, [3]), false));
  t.true(err instanceof ReaderError && err.code === 'INVALID_CONTENT' && err.message.startsWith('journal acme/x: the line at offset 8 is not JSON'), String(err));
  const docs = [];
  for await (const batch of readDocumentBatches(chunksOf('acme/x', bytes, [3]), { lines: true })) docs.push(...batch);
  t.deepEqual(
    docs.map((d) => d.line),
    ['{"a":1}', '{"a":', '{"a":3}'],
  );
  const lazy = t.throws(() => docs[1]!.doc);
  t.true(lazy instanceof ReaderError && lazy.code === 'INVALID_CONTENT' && lazy.message.startsWith('journal acme/x: the line at offset 8 is not JSON'), String(lazy));
});
