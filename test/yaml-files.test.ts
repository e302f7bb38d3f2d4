import test from 'ava';
import { InletError } from '../src/errors.js';
import { parseJournalsFile } from '../src/journal/apply-file.js';

const FILE = `defaults:
  labels: { team: logistics }
journals:
  - name: a/one
  - name: a/two
    fragment: { codec: zstd }
  - just a string
`;

test('a journals file names the line of each journal, for errors about its fields', (t) => {
  const good = parseJournalsFile(FILE.split('\n').slice(0, 6).join('\n'));
  t.deepEqual(
    good.map((j) => j.where),
    ['line 4 journals[0]', 'line 5 journals[1]'],
  );
  t.deepEqual(good[1]!.input, { labels: { team: 'logistics' }, name: 'a/two', fragment: { codec: 'zstd' } });
});

test('a journals file that is not a list of mappings is refused at the line of the problem', (t) => {
  const err = t.throws(() => parseJournalsFile(FILE), { instanceOf: InletError });
  t.is(err.message, 'line 7 journals[2]: must be a mapping');
  t.is(err.code, 'INVALID_SPEC');
});

test('a journals file that is not valid YAML is refused with its line', (t) => {
  const err = t.throws(() => parseJournalsFile('journals:\n  - name: a\n  - { name: b\n'), { instanceOf: InletError });
  t.regex(err.message, /^line \d+: not valid YAML: /);
});
