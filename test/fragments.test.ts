import test from 'ava';
import { DuckDBInstance } from '@duckdb/node-api';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { appendTo, readAll, runCli, startBroker, tempDir } from './helpers/broker.js';
import { checkFragment, FRAGMENT_FILE, shipment } from './helpers/lake.js';

const CARRIERS = ['UPS', 'FedEx', 'DHL', 'USPS'];
const journalOf = (c: string) => `shipments/carrier=${c}/pivot=00`;

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

test('~50 MB across partitioned journals persists as named gzip fragments that DuckDB reads, and a broker on a wiped data dir serves it all', async (t) => {
  const dir = await tempDir();
  const lake = join(dir, 'lake');
  const args = ['--store', `file://${lake}/`, '--fragment-length', '1MiB'];
  try {
    const b = await startBroker({ dataDir: join(dir, 'data'), args });
    for (const c of CARRIERS) {
      const res = await fetch(`${b.url}/v1/stream/${journalOf(c)}`, { method: 'PUT', headers: { 'content-type': 'application/x-ndjson' } });
      t.is(res.status, 201);
    }
    // 250k documents, in batches of 1,000, four appenders at once.
    const acks = new Map<string, { begin: number; body: string }[]>(CARRIERS.map((c) => [c, []]));
    const counts = new Map<string, number>(CARRIERS.map((c) => [c, 0]));
    const batches = Array.from({ length: 250 }, (_, k) => k);
    await Promise.all(
      [0, 1, 2, 3].map(async (w) => {
        for (const k of batches.filter((x) => x % 4 === w)) {
          const carrier = CARRIERS[(k * 7) % CARRIERS.length]!;
          let body = '';
          for (let i = 0; i < 1000; i++) body += shipment(k * 1000 + i, carrier);
          const res = await appendTo(b.url, journalOf(carrier), body, 'application/x-ndjson');
          t.is(res.status, 204);
          acks.get(carrier)!.push({ begin: Number(res.headers.get('inlet-append-begin')), body });
          counts.set(carrier, counts.get(carrier)! + 1000);
        }
      }),
    );
    const expected = new Map(CARRIERS.map((c) => [c, Buffer.from(acks.get(c)!.sort((x, y) => x.begin - y.begin).map((a) => a.body).join(''))]));
    t.true([...expected.values()].reduce((n, e) => n + e.length, 0) > 45e6);
    t.is(await b.stop('SIGTERM'), 0); // a clean stop persists every spool

    // Every fragment sits under the documented name and holds exactly its bytes.
    for (const c of CARRIERS) {
      const files = await walk(join(lake, journalOf(c)));
      t.true(files.length > 5, `${c}: ${files.length} fragments`);
      let reach = 0;
      const sorted = files.map((f) => relative(join(lake, journalOf(c)), f)).sort((x, y) => x.split('/').pop()!.localeCompare(y.split('/').pop()!));
      for (const rel of sorted) {
        t.regex(rel, /^utc_date=\d{4}-\d{2}-\d{2}\/utc_hour=\d{2}\/[0-9a-f]{16}-[0-9a-f]{16}-[0-9a-f]{40}\.gz$/);
        const file = rel.split('/').pop()!;
        const [, begin, end] = file.match(FRAGMENT_FILE)!;
        t.is(parseInt(begin!, 16), reach, `${c}: fragments tile the journal`);
        reach = parseInt(end!, 16);
        t.is(checkFragment(file, await readFile(join(lake, journalOf(c), rel)), expected.get(c)!), undefined);
        const content = (await readFile(join(lake, journalOf(c), rel))).length;
        t.true(content > 0);
      }
      t.is(reach, expected.get(c)!.length);
    }

    // DuckDB reads the lake as a Hive-partitioned dataset and prunes files by partition predicate.
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const glob = `${lake}/shipments/*/*/*/*/*.gz`;
    const source = `read_json('${glob}', columns = {id: 'VARCHAR', weightKg: 'DOUBLE'}, hive_partitioning = true, format = 'newline_delimited')`;
    const ups = await conn.runAndReadAll(`SELECT count(*) AS n FROM ${source} WHERE carrier = 'UPS'`);
    t.is(Number(ups.getRowObjects()[0]!.n), counts.get('UPS'));
    const plan = String((await conn.runAndReadAll(`EXPLAIN ANALYZE SELECT count(*) FROM ${source} WHERE carrier = 'UPS'`)).getRowObjects()[0]!.explain_value);
    const upsFiles = (await walk(join(lake, journalOf('UPS')))).length;
    const allFiles = (await walk(join(lake, 'shipments'))).length;
    t.regex(plan, new RegExp(`Scanning Files: ${upsFiles}/${allFiles}`));
    const per = await conn.runAndReadAll(`SELECT carrier, count(*) AS n FROM ${source} GROUP BY carrier ORDER BY carrier`);
    t.deepEqual(
      per.getRowObjects().map((r) => [r.carrier, Number(r.n)]),
      [...CARRIERS].sort().map((c) => [c, counts.get(c)]),
    );

    // A broker with an empty data dir over the same store finds the journals and serves everything.
    const b2 = await startBroker({ dataDir: join(dir, 'data2'), args });
    for (const c of CARRIERS) t.true((await readAll(b2.url, journalOf(c))).equals(expected.get(c)!), `${c} history`);
    // The DDL names the partition columns and the documents' columns.
    const ddl = await runCli(['fragments', 'ddl', 'shipments', '--location', 's3://my-lake/shipments/', '--broker', b2.url]);
    t.is(ddl.code, 0, ddl.stderr);
    t.regex(ddl.stdout, /CREATE EXTERNAL TABLE IF NOT EXISTS `shipments`/);
    t.regex(ddl.stdout, /PARTITIONED BY \(`carrier` string, `pivot` string, `utc_date` string, `utc_hour` string\)/);
    t.regex(ddl.stdout, /`vendor` struct<`name`:string>/);
    t.regex(ddl.stdout, /`weightKg` (double|bigint)/);
    t.regex(ddl.stdout, /LOCATION 's3:\/\/my-lake\/shipments\/'/);
    const spark = await runCli(['fragments', 'ddl', 'shipments', '--dialect', 'spark', '--broker', b2.url]);
    t.regex(spark.stdout, /USING json\nPARTITIONED BY \(`carrier`, `pivot`, `utc_date`, `utc_hour`\)/);
    const more = await appendTo(b2.url, journalOf('UPS'), shipment(1, 'UPS'), 'application/x-ndjson');
    t.is(Number(more.headers.get('inlet-append-begin')), expected.get('UPS')!.length);
    await b2.stop('SIGKILL');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
