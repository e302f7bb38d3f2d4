import test from 'ava';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ingest } from './helpers/collections.js';
import { cleanup, runCli, startBroker, tempDir } from './helpers/broker.js';

const CATALOG = `collections:
  acme/visits:
    key: [/id]
    schema:
      type: object
      required: [id, site, at]
      properties:
        id: { type: integer }
        site: { type: string }
        at: { type: string, format: date-time }
        score: { type: number }
        note: { type: [string, "null"] }
        vip: { type: boolean }
    projections:
      site: { location: /site, partition: true }
      id: /id
      at: /at
      score: /score
      note: /note
      vip: /vip
`;

test("fragments ddl types a collection's columns from its projections, not from a sample of documents", async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'visits.flow.yaml'), CATALOG);
  const b = await startBroker({ dataDir: join(dir, 'data'), args: ['--catalog', join(dir, 'visits.flow.yaml')] });
  t.teardown(() => cleanup(b));
  // A sample would type score as bigint and miss note and vip: this document has no such values.
  const res = await ingest(b, { 'acme/visits': [{ id: 1, site: 'home', at: '2026-11-28T01:00:00Z', score: 3 }] });
  t.is(res.status, 200, await res.text());

  const out = await runCli(['fragments', 'ddl', 'acme/visits', '--broker', b.url]);
  t.is(out.code, 0, out.stderr);
  t.regex(out.stdout, /CREATE EXTERNAL TABLE IF NOT EXISTS `visits` \(\n  `id` bigint,\n  `at` string,\n  `score` double,\n  `note` string,\n  `vip` boolean\n\)/);
  t.regex(out.stdout, /PARTITIONED BY \(`site` string, `pivot` string, `utc_date` string, `utc_hour` string\)/);
});
