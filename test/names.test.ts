import test from 'ava';
import { validateJournalName } from '../src/protocol/names.js';
import { formatOffset, parseOffset } from '../src/protocol/offsets.js';
import { Selector } from '../src/protocol/selectors.js';
import { parseDuration, parseSize } from '../src/units.js';

test('journal names follow the documented alphabet and shape', (t) => {
  for (const ok of ['a', 'shipments/carrier=UPS/pivot=00', 'x.y_z-1+%20', `${'a'.repeat(255)}/${'b'.repeat(254)}/c`]) t.is(validateJournalName(ok), ok);
  const bad: [string, RegExp][] = [
    ['', /1 to 512/],
    ['a'.repeat(513), /1 to 512/],
    // A segment is a directory name: longer ones failed with 500 ENAMETOOLONG (issue 16.7).
    [`x/${'a'.repeat(256)}`, /segments between \/ may be at most 255/],
    ['/a', /begin or end/],
    ['a/', /begin or end/],
    ['a//b', /\/\//],
    ['a/../b', /\. or \.\. segment/],
    ['a/./b', /\. or \.\. segment/],
    ['a b', /may contain only/],
    ['a@b', /may contain only/],
  ];
  for (const [name, re] of bad) t.throws(() => validateJournalName(name), { message: re });
});

test('selectors match by equality, inequality, set membership and existence', (t) => {
  const ups = { carrier: 'UPS', region: 'eu' };
  const dhl = { carrier: 'DHL' };
  const cases: [string, boolean, boolean][] = [
    ['', true, true],
    ['carrier=UPS', true, false],
    ['carrier==UPS', true, false],
    ['carrier!=UPS', false, true],
    ['carrier in (UPS, FedEx)', true, false],
    ['carrier notin (UPS)', false, true],
    ['region', true, false],
    ['!region', false, true],
    ['carrier in (UPS,DHL),region=eu', true, false],
  ];
  for (const [sel, a, b] of cases) {
    const s = Selector.parse(sel);
    t.is(s.matches(ups), a, sel);
    t.is(s.matches(dhl), b, sel);
  }
  t.throws(() => Selector.parse('a in (b'), { message: /cannot parse/ });
  t.throws(() => Selector.parse('a in (b,)'), { message: /empty value/ });
});

test('offsets go out as sortable strings and come back as byte offsets', (t) => {
  t.is(formatOffset(1234), '0000000000000000_0000000000001234');
  t.true(formatOffset(99) < formatOffset(100));
  t.is(parseOffset(formatOffset(1234)), 1234);
  t.is(parseOffset('1234'), 1234);
  t.is(parseOffset('-1'), 0);
  t.is(parseOffset('now'), 'now');
  for (const bad of ['', 'abc', '1,2', ' 1', '1_2_3', '0000000000000001_0000000000000000']) t.throws(() => parseOffset(bad));
});

test('durations and sizes parse as people write them', (t) => {
  t.is(parseDuration('1h30m'), 5_400_000);
  t.is(parseDuration('250ms'), 250);
  t.is(parseDuration('7d'), 604_800_000);
  t.is(parseDuration('soon'), null);
  t.is(parseSize('128MiB'), 128 * 1024 * 1024);
  t.is(parseSize('64MB'), 64e6);
  t.is(parseSize('4096'), 4096);
  t.is(parseSize('lots'), null);
});
