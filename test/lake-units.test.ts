import test from 'ava';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { compressor, decompressor } from '../src/fragments/codecs.js';
import { FragmentIndex, type Fragment } from '../src/fragments/fragment-index.js';
import { fragmentKey, parseFragmentKey } from '../src/fragments/naming.js';
import { checkPostfixTemplate, DEFAULT_POSTFIX_TEMPLATE, postfixPattern, renderPostfix, templateKeys } from '../src/protocol/postfix.js';
import { appendTo, cleanup, createJournal, readAll, runCli, startBroker, streamUrl } from './helpers/broker.js';

const SHA = 'a'.repeat(40);
const DEFAULT = [postfixPattern(DEFAULT_POSTFIX_TEMPLATE)];

test('fragment names carry journal, offsets, SHA-1 and codec, sort by offset, and parse back', (t) => {
  const name = { journal: 'shipments/carrier=UPS/pivot=00', postfix: 'utc_date=2020-11-22/utc_hour=16', begin: 0x1f00, end: 0x2a00, sha1: SHA, codec: 'gzip' as const };
  const key = fragmentKey(name);
  t.is(key, `shipments/carrier=UPS/pivot=00/utc_date=2020-11-22/utc_hour=16/0000000000001f00-0000000000002a00-${SHA}.gz`);
  t.deepEqual(parseFragmentKey(key, name.journal, DEFAULT), name);
  t.is(parseFragmentKey(key.replace('.gz', '.zst'), name.journal, DEFAULT)?.codec, 'zstd');
  t.is(parseFragmentKey(key.replace('.gz', '.raw'), name.journal, DEFAULT)?.codec, 'none');
  t.is(parseFragmentKey(key, 'shipments/carrier=FedEx/pivot=00', DEFAULT), null);
  t.is(parseFragmentKey(`${name.journal}/notes.txt`, name.journal, DEFAULT), null);
  const keys = [0x10, 0x2, 0x100].map((b) => fragmentKey({ ...name, begin: b, end: b + 1 }));
  t.deepEqual([...keys].sort(), [keys[1], keys[0], keys[2]]);
});

test('path postfixes render the first append time in UTC', (t) => {
  const at = new Date(Date.UTC(2020, 10, 22, 16, 5));
  t.is(renderPostfix('utc_date=%Y-%m-%d/utc_hour=%H', at), 'utc_date=2020-11-22/utc_hour=16');
  t.is(renderPostfix('y=%Y/m=%m/min=%M/%%', at), 'y=2020/m=11/min=05/%');
});

test('a journal owns only keys shaped <journal>/<its postfix>/<fragment file> (regression: j/utc_date=… hid and deleted j\'s fragments)', (t) => {
  const file = `0000000000000000-0000000000000010-${SHA}.gz`;
  t.truthy(parseFragmentKey(`j/utc_date=2026-11-28/utc_hour=01/${file}`, 'j', DEFAULT));
  t.truthy(parseFragmentKey(`j/${file}`, 'j', DEFAULT));
  // A child journal's fragments, whatever its postfix, are not j's.
  t.is(parseFragmentKey(`j/x/utc_date=2026-11-28/utc_hour=01/${file}`, 'j', DEFAULT), null);
  t.is(parseFragmentKey(`j/x/${file}`, 'j', DEFAULT), null);
  t.is(parseFragmentKey(`j/utc_date=2026-11-28/utc_hour=01/x/${file}`, 'j', DEFAULT), null);
  t.deepEqual(templateKeys(DEFAULT_POSTFIX_TEMPLATE), ['utc_date', 'utc_hour']);
  t.true(postfixPattern('y=%Y/%%/m=%m').test('y=2026/%/m=11'));
  t.false(postfixPattern('y=%Y').test('y=26'));
});

test('postfix templates that leave the journal folder are refused, and so are such rendered postfixes', (t) => {
  for (const bad of ['../../x', 'a/../b', 'a//b', './a', '%Y/..', 'a/%q']) {
    const err = t.throws(() => checkPostfixTemplate(bad));
    t.is((err as { code?: string }).code, 'INVALID_SPEC', bad);
  }
  checkPostfixTemplate('');
  checkPostfixTemplate('y=%Y/m=%m');
  const err = t.throws(() => fragmentKey({ journal: 'j', postfix: 'a/../../b', begin: 0, end: 1, sha1: SHA, codec: 'gzip' }));
  t.is((err as { code?: string }).code, 'INVALID_SPEC');
});

test('the fragment index picks covering fragments and reports gaps', (t) => {
  const f = (begin: number, end: number): Fragment => ({ journal: 'j', postfix: '', begin, end, sha1: SHA, codec: 'gzip', store: 'file:///x/', key: `${begin}-${end}`, size: 1, modified: new Date(0) });
  const idx = new FragmentIndex();
  // [0,100) and a duplicate written by another broker, [100,200) covered by [100,300), then a gap to 400.
  idx.replace([f(0, 100), f(0, 100), f(100, 200), f(100, 300), f(250, 350), f(400, 500)]);
  t.deepEqual(idx.fragments.map((x) => [x.begin, x.end]), [[0, 100], [100, 300], [250, 350], [400, 500]]);
  t.deepEqual(idx.gaps, [[350, 400]]);
  t.is(idx.find(150)?.end, 300);
  t.is(idx.find(260)?.end, 350);
  t.is(idx.find(360), undefined);
  t.is(idx.next(360)?.begin, 400);
  t.is(idx.end, 500);
  // A listing taken before a fragment was added keeps that fragment (regression: a refresh
  // racing an upload dropped the new fragment, and reads of its offsets failed with OFFSET_GONE).
  const since = idx.currentVersion;
  idx.add(f(500, 600));
  idx.replace([f(0, 100), f(100, 300), f(250, 350), f(400, 500)], since);
  t.is(idx.find(550)?.end, 600);
  idx.replace([f(0, 100), f(100, 300), f(250, 350), f(400, 500), f(500, 600)], idx.currentVersion);
  t.is(idx.fragments.length, 5);
});

for (const codec of ['gzip', 'zstd', 'none'] as const) {
  test(`codec ${codec} round-trips 8 MB exactly`, async (t) => {
    const data = Buffer.alloc(8 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 27;
    const out: Buffer[] = [];
    for await (const c of Readable.from([data.subarray(0, 3 << 20), data.subarray(3 << 20)]).pipe(compressor(codec)).pipe(decompressor(codec))) out.push(c as Buffer);
    const back = Buffer.concat(out);
    t.is(createHash('sha1').update(back).digest('hex'), createHash('sha1').update(data).digest('hex'));
  });
}

test('spools roll on their flush interval and persist as zstd fragments without a shutdown', async (t) => {
  const b = await startBroker();
  try {
    const apply = await fetch(`${b.url}/v1/journals/apply`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ journals: [{ name: 'roll/z', contentType: 'application/x-ndjson', fragment: { codec: 'zstd', flushInterval: '1s', refreshInterval: '1s', retention: '2s' } }] }),
    });
    t.is(apply.status, 200);
    t.is((await appendTo(b.url, 'roll/z', '{"a":1}\n', 'application/x-ndjson')).status, 204);
    // Bounded wait for the interval roll and upload.
    let fragments: { begin: number; end: number; codec: string; location: string }[] = [];
    for (let i = 0; i < 100 && fragments.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const res = (await (await fetch(`${b.url}/v1/fragments?journal=roll/z`)).json()) as { journals: { fragments: typeof fragments }[] };
      fragments = res.journals[0]!.fragments;
    }
    t.is(fragments.length, 1);
    t.like(fragments[0], { begin: 0, end: 8, codec: 'zstd' });
    t.regex(fragments[0]!.location, /roll\/z\/utc_date=\d{4}-\d{2}-\d{2}\/utc_hour=\d{2}\/0000000000000000-0000000000000008-[0-9a-f]{40}\.zst$/);
    t.is((await appendTo(b.url, 'roll/z', '{"a":2}\n', 'application/x-ndjson')).status, 204);
    t.is((await readAll(b.url, 'roll/z')).toString(), '{"a":1}\n{"a":2}\n');
    const verify = await runCli(['fragments', 'verify', 'roll/z', '--broker', b.url]);
    t.is(verify.code, 0, verify.stdout + verify.stderr);

    // Retention: once the fragment is wholly older than 2s, prune lists it, and deletes it with --yes.
    await new Promise((r) => setTimeout(r, 2100));
    const dry = await runCli(['fragments', 'prune', 'roll/z', '--broker', b.url]);
    t.regex(dry.stdout, /would delete roll\/z \[0, 8\)/);
    const list = await runCli(['fragments', 'list', 'roll/z', '--broker', b.url]);
    t.regex(list.stdout, /roll\/z\s+0\s+8\s+8\s+\d+\s+zstd/);
    const real = await runCli(['fragments', 'prune', 'roll/z', '--yes', '--broker', b.url]);
    t.regex(real.stdout, /deleted roll\/z \[0, 8\)/);
    const after = (await (await fetch(`${b.url}/v1/fragments?journal=roll/z`)).json()) as { journals: { fragments: { begin: number }[] }[] };
    t.false(after.journals[0]!.fragments.some((f) => f.begin === 0));
  } finally {
    await cleanup(b);
  }
});

test('fragments prune --below deletes the fragments wholly below an offset; readers of what is gone get 410 and the rest reads on', async (t) => {
  const b = await startBroker();
  t.teardown(() => cleanup(b));
  t.is((await createJournal(b.url, 'cut/a', 'application/x-ndjson')).status, 201);
  for (const doc of ['{"a":1}\n', '{"a":2}\n', '{"a":3}\n']) {
    t.is((await appendTo(b.url, 'cut/a', doc, 'application/x-ndjson')).status, 204);
    t.is((await runCli(['fragments', 'flush', 'cut/a', '--broker', b.url])).code, 0);
  }
  // Fragments [0, 8), [8, 16), [16, 24): below 20 reaches only the first two wholly.
  const dry = await runCli(['fragments', 'prune', 'cut/a', '--below', '20', '--broker', b.url]);
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stdout, /would delete cut\/a \[0, 8\)[^\n]*\nwould delete cut\/a \[8, 16\)[^\n]*\n$/);
  t.regex(dry.stderr, /2 fragment\(s\) wholly below offset 20 \(dry run/);
  t.is((await readAll(b.url, 'cut/a')).toString(), '{"a":1}\n{"a":2}\n{"a":3}\n', 'a dry run deletes nothing');
  const real = await runCli(['fragments', 'prune', 'cut/a', '--below', '20', '--yes', '--broker', b.url]);
  t.regex(real.stdout, /deleted cut\/a \[0, 8\)[^\n]*\ndeleted cut\/a \[8, 16\)/);
  const res = await fetch(`${streamUrl(b.url, 'cut/a')}?offset=0`);
  t.is(res.status, 410);
  t.regex(await res.text(), /OFFSET_GONE/);
  const rest = await fetch(`${streamUrl(b.url, 'cut/a')}?offset=16`);
  t.is(await rest.text(), '{"a":3}\n');
  // Bad offsets are refused whole, naming the parameter.
  const bad = await runCli(['fragments', 'prune', 'cut/a', '--below', '1.5', '--broker', b.url]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--below: must be an offset/);
  const http = await fetch(`${b.url}/v1/fragments/prune?journal=cut/a&below=1e3&dryRun=false`, { method: 'POST' });
  t.is(http.status, 400);
  t.regex(await http.text(), /below: must be an offset/);
});
