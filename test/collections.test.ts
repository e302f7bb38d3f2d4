import test from 'ava';
import { collectionSelector, encodePartitionValue, lagMs, partitionJournal, partitionLabels } from '../src/collections/partitions.js';
import { Sequencer, type SequencedDocument } from '../src/collections/sequencer.js';
import fc from 'fast-check';
import { ACK_TXN, buildUuid, clockTime, ClockSource, CONTINUE_TXN, namedProducer, OUTSIDE_TXN, parseUuid, randomProducer, trailingUuidAt, writeUuids } from '../src/collections/uuid.js';
import { Selector } from '../src/protocol/selectors.js';
import { validateJournalName } from '../src/protocol/names.js';

test('uuids carry producer, clock and flags, and parse back', (t) => {
  const clocks = new ClockSource();
  const producer = randomProducer();
  t.is(parseInt(producer.slice(0, 2), 16) & 1, 1, 'multicast bit set');
  for (const flags of [OUTSIDE_TXN, CONTINUE_TXN, ACK_TXN]) {
    const clock = clocks.next();
    const uuid = buildUuid(producer, clock, flags);
    t.regex(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    t.deepEqual(parseUuid(uuid), { producer, clock, flags });
  }
  t.is(parseUuid('not-a-uuid'), undefined);
  t.is(parseUuid('123e4567-e89b-42d3-a456-426614174000'), undefined, 'v4 uuids are not ours');
});

test('parseUuid accepts exactly the UUIDs of our layout (v1, RFC 4122 variant, lowercase hex), however a character is changed', (t) => {
  const ours = /^([0-9a-f]{8})-([0-9a-f]{4})-1([0-9a-f]{3})-([89ab][0-9a-f]{3})-([0-9a-f]{12})$/;
  const uuid = buildUuid(randomProducer(), new ClockSource().next(), CONTINUE_TXN);
  fc.assert(
    fc.property(fc.nat(40), fc.constantFrom(...'0123456789abcdefABCDEF-1gz_'), (at, ch) => {
      const changed = uuid.slice(0, at) + ch + uuid.slice(at + 1);
      t.is(parseUuid(changed) !== undefined, ours.test(changed), changed);
    }),
    { numRuns: 500 },
  );
});

test('writeUuids writes the UUIDs of consecutive clocks that buildUuid makes, across a carry out of the low bits, touching nothing else', (t) => {
  const producer = randomProducer();
  for (const first of [0x01ed8c3a6f2b4c10n, 0x01ed8c3fffffffe0n, 0x01ed8cffffffffffn]) {
    // Each at 40 bytes from the last, over bytes that must stay as they are between them.
    const body = Buffer.alloc(50 * 40 + 3, '#');
    writeUuids(body, producer, first, 50, CONTINUE_TXN, (i) => 3 + i * 40);
    const got = Array.from({ length: 50 }, (_, i) => body.toString('latin1', 3 + i * 40, 3 + i * 40 + 36));
    t.is(body.toString('latin1').replace(/#/g, '').length, 50 * 36);
    t.deepEqual(
      got,
      Array.from({ length: 50 }, (_, i) => buildUuid(producer, (first + BigInt(i)).toString(16).padStart(16, '0'), CONTINUE_TXN)),
    );
  }
  const clocks = new ClockSource();
  const before = clocks.next();
  const { first, last } = clocks.reserve(10);
  t.true(first.toString(16).padStart(16, '0') > before && BigInt(`0x${last}`) === first + 9n && clocks.next() > last);
});

/** The 36 characters trailingUuidAt points at, or undefined. */
function trailingUuid(line: string): string | undefined {
  const at = trailingUuidAt(line);
  return at < 0 ? undefined : line.slice(at, at + 36);
}

test('trailingUuidAt finds the top-level _meta.uuid at the end of a line, and nothing else', (t) => {
  const uuid = buildUuid(randomProducer(), new ClockSource().next(), CONTINUE_TXN);
  t.is(trailingUuid(JSON.stringify({ a: 1, _meta: { uuid } })), uuid);
  t.is(trailingUuid(JSON.stringify({ _meta: { uuid } })), uuid);
  t.is(trailingUuid(JSON.stringify({ a: { _meta: { uuid } } })), undefined, 'nested');
  t.is(trailingUuid(JSON.stringify({ _meta: { uuid }, a: 1 })), undefined, 'not at the end');
  t.is(trailingUuid(JSON.stringify({ _meta: { uuid, ack: true } })), undefined, 'more than the uuid');
  t.is(trailingUuid(JSON.stringify({ s: '"_meta":{"uuid":"' + uuid + '"}}' })), undefined, 'inside a string');
  t.is(trailingUuid(`{"a":1, "_meta":{"uuid":"${uuid}"} }`), undefined, 'spaces');
});

test('clocks increase strictly, track wall time, and never go below an observed clock', (t) => {
  const clocks = new ClockSource();
  let last = '';
  for (let i = 0; i < 10_000; i++) {
    const c = clocks.next();
    t.true(c > last);
    last = c;
  }
  t.true(Math.abs(clockTime(last).getTime() - Date.now()) < 5_000);
  const future = 'f000000000000000';
  clocks.observe(future);
  t.true(clocks.next() > future);
  t.is(namedProducer('client-a'), namedProducer('client-a'));
  t.not(namedProducer('client-a'), namedProducer('client-b'));
});

test('time lag: the age of the last transaction read in each journal still behind, the worst of them; from `since` where no clock was read', (t) => {
  // A clock taken at `ms` (UUID time: 100 ns units since 1582-10-15, then a 4-bit counter).
  const clockAt = (ms: number) => ((BigInt(ms) * 10_000n + 122_192_928_000_000_000n) << 4n).toString(16).padStart(16, '0');
  const now = 1_800_000_000_000;
  t.is(clockTime(clockAt(now - 60_000)).getTime(), now - 60_000);
  const heads = { a: 100, b: 200, c: 50 };
  const read = {
    // a: behind; its producers' last ACKs were 60 s and 90 s ago: the newer counts.
    a: { readThrough: 40, producers: { p1: { lastAck: clockAt(now - 90_000), begin: -1 }, p2: { lastAck: clockAt(now - 60_000), begin: 10 } } },
    // b: behind, 20 s.
    b: { readThrough: 150, producers: { p1: { lastAck: clockAt(now - 20_000), begin: -1 } } },
    // c: read through: no lag however old its last ACK.
    c: { readThrough: 50, producers: { p1: { lastAck: clockAt(now - 999_000), begin: -1 } } },
  };
  t.is(lagMs(heads, read, now, now - 5_000), 60_000);
  t.is(lagMs({ b: 200, c: 50 }, read, now, now - 5_000), 20_000);
  t.is(lagMs({ c: 50 }, read, now, now - 5_000), 0);
  // A journal with nothing read yet counts from `since`; a clock from a later machine counts as now.
  t.is(lagMs({ d: 10 }, read, now, now - 5_000), 5_000);
  t.is(lagMs({ e: 10 }, { e: { readThrough: 0, producers: { p: { lastAck: clockAt(now + 3_000), begin: -1 } } } }, now, now - 5_000), 0);
});

type DocOf = (producer: string, clock: string, flags: number, body?: Record<string, unknown>) => SequencedDocument;
const parsedDoc: DocOf = (producer, clock, flags, body = {}) => ({ journal: 'j', begin: 0, end: 1, doc: { ...body, _meta: { uuid: buildUuid(producer, clock, flags) } } });
/** As a reader that keeps lines hands them out: the document is parsed from its line when read. */
const lineDoc: DocOf = (producer, clock, flags, body = {}) => {
  const line = JSON.stringify(parsedDoc(producer, clock, flags, body).doc);
  return { journal: 'j', begin: 0, end: 1, line, get doc() { return JSON.parse(line); } };
};

const sequencing = test.macro((t, docOf: DocOf) => {
  const s = new Sequencer();
  const p = randomProducer();
  const q = randomProducer();
  const c = Array.from({ length: 10 }, (_, i) => (0x1000 + i).toString(16).padStart(16, '0'));
  t.deepEqual(s.push(docOf(p, c[1]!, CONTINUE_TXN, { n: 1 })), []);
  t.deepEqual(s.push(docOf(q, c[2]!, CONTINUE_TXN, { n: 2 })), []);
  t.deepEqual(s.push(docOf(p, c[3]!, CONTINUE_TXN, { n: 3 })), []);
  t.is(s.pendingCount, 3);
  // p's ACK commits p's documents only, in order.
  t.deepEqual(s.push(docOf(p, c[3]!, ACK_TXN)).map((d) => (d.doc as { n: number }).n), [1, 3]);
  // A retry re-appends p's transaction: every document and the ACK are duplicates.
  t.deepEqual(s.push(docOf(p, c[1]!, CONTINUE_TXN, { n: 1 })), []);
  t.deepEqual(s.push(docOf(p, c[3]!, CONTINUE_TXN, { n: 3 })), []);
  t.deepEqual(s.push(docOf(p, c[3]!, ACK_TXN)), []);
  t.is(s.duplicates, 2);
  // q rolls back: an ACK at an earlier clock discards what came after it.
  t.deepEqual(s.push(docOf(q, '0000000000000000', ACK_TXN)), []);
  t.is(s.rolledBack, 1);
  t.is(s.pendingCount, 0);
  // Outside a transaction: committed at once, deduplicated by clock.
  t.is(s.push(docOf(q, c[5]!, OUTSIDE_TXN, { n: 5 })).length, 1);
  t.is(s.push(docOf(q, c[5]!, OUTSIDE_TXN, { n: 5 })).length, 0);
  // Not part of the protocol: passes through.
  t.is(s.push({ journal: 'j', begin: 0, end: 1, doc: { plain: true } }).length, 1);
});
test('the sequencer commits on ACK, rolls back past it, and drops duplicates of a retry', sequencing, parsedDoc);
test('the sequencer does the same with documents kept as lines', sequencing, lineDoc);

test('the sequencer reads the uuid at the end of a line without parsing the document', (t) => {
  const line = JSON.stringify({ n: 1, _meta: { uuid: buildUuid(randomProducer(), '0000000000001000', CONTINUE_TXN) } });
  const d: SequencedDocument = {
    journal: 'j',
    begin: 0,
    end: 1,
    line,
    get doc(): unknown {
      throw new Error('parsed');
    },
  };
  t.deepEqual(new Sequencer().push(d), []);
});

test('partition journals and labels encode values safely and sort fields', (t) => {
  const name = partitionJournal('acme/shipments', ['carrier', 'region'], ['UPS Ground/2', 7]);
  t.is(name, 'acme/shipments/carrier=UPS%20Ground%2F2/region=7/pivot=00');
  t.notThrows(() => validateJournalName(name));
  t.is(partitionJournal('acme/events', [], []), 'acme/events/pivot=00');
  t.is(encodePartitionValue(true), 'true');
  t.is(encodePartitionValue('ünï,=()'), '%C3%BCn%C3%AF%2C%3D%28%29');
  const labels = partitionLabels('acme/shipments', ['carrier', 'region'], ['UPS Ground/2', 7]);
  t.deepEqual(labels, { 'inlet.dev/collection': 'acme/shipments', 'inlet.dev/field/carrier': 'UPS%20Ground%2F2', 'inlet.dev/field/region': '7' });
  const sel = Selector.parse(collectionSelector('acme/shipments', { region: 7, carrier: 'UPS Ground/2' }));
  t.true(sel.matches(labels));
  t.false(sel.matches({ ...labels, 'inlet.dev/field/region': '8' }));
  t.false(Selector.parse(collectionSelector('acme/ship')).matches(labels));
});
