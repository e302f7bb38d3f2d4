/**
 * The derivation bench: a catalog's derivations backfilled from the lake, then live.
 *
 *   node --import tsx bench/derive.ts [--docs N]     # default 200k source documents
 *
 * (a) pass-through (publish the source as it is) and (b) totals (a register per key, summed,
 * published per document: the shape of the chat example's numUnreadRooms), each over the same
 * N documents already in the lake, next to a hand-written single-process loop doing the same
 * work on the same documents (parse NDJSON, shuffle into a Map, reduce, write NDJSON to a
 * file): the limit. Then live: one document ingested at a time, ack → derived document
 * committed, p50/p99. Prints a Markdown table.
 */
import { writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCatalog } from '../src/catalog/load.js';
import { Appender } from '../src/client/appender.js';
import { BrokerClient } from '../src/client/broker-client.js';
import { readCollection } from '../src/collections/reader.js';
import { DerivationRuntime } from '../src/derive/runtime.js';
import { scratchDir, startInlet } from './lib/processes.js';

const { values } = parseArgs({ options: { docs: { type: 'string', default: '200000' } } });
const N = Number(values.docs);
const KEYS = 1000;

const CATALOG = `
collections:
  acme/events:
    key: [/id]
    schema: { type: object, required: [id, key, n], properties: { id: { type: integer }, key: { type: string }, n: { type: integer } } }
  acme/copy:
    key: [/id]
    schema: { type: object, required: [id, key, n], properties: { id: { type: integer }, key: { type: string }, n: { type: integer } } }
    derivation:
      transform:
        fromEvents:
          source: { name: acme/events }
          publish: { lambda: typescript }
  acme/totals:
    key: [/key]
    schema: { type: object, required: [key, count, total], properties: { key: { type: string }, count: { type: integer }, total: { type: integer } } }
    derivation:
      register:
        schema: { type: object, reduce: { strategy: merge }, properties: { count: { type: integer, reduce: { strategy: sum } }, total: { type: integer, reduce: { strategy: sum } } } }
        initial: { count: 0, total: 0 }
      transform:
        fromEvents:
          source: { name: acme/events }
          shuffle: { key: [/key] }
          update: { lambda: typescript }
          publish: { lambda: typescript }
`;
const MODULE = `
export class AcmeCopy { fromEventsPublish(s) { return [s]; } }
export class AcmeTotals {
  fromEventsUpdate(s) { return [{ count: 1, total: s.n }]; }
  fromEventsPublish(s, r) { return [{ key: s.key, count: r.count, total: r.total }]; }
}
`;

const doc = (i: number) => ({ id: i, key: `k${i % KEYS}`, n: i % 100 });

const dir = await scratchDir('inlet-bench-derive-');
const sources = join(dir.path, 'events.flow.yaml');
await writeFile(sources, CATALOG.split('  acme/copy:')[0]!);
await writeFile(join(dir.path, 'all.flow.yaml'), CATALOG);
await writeFile(join(dir.path, 'module.mjs'), MODULE);
const broker = await startInlet(join(dir.path, 'data'), ['--catalog', sources, '--store', `file://${join(dir.path, 'lake')}/`]);
const client = new BrokerClient(broker.url);
const rows: string[] = [];
try {
  console.error(`bench: ingesting ${N} documents…`);
  for (let at = 0; at < N; at += 5000) {
    await client.ingest({ 'acme/events': Array.from({ length: Math.min(5000, N - at) }, (_, i) => doc(at + i)) });
  }
  console.error('bench: flushing to the lake…');
  await client.flushFragments({ selector: 'inlet.dev/collection=acme/events' }).catch(() => undefined);

  // The limit: the same work in one loop over the same documents, in memory.
  const ndjson = Array.from({ length: N }, (_, i) => JSON.stringify(doc(i))).join('\n');
  for (const name of ['pass-through', 'totals'] as const) {
    const t0 = performance.now();
    const out: string[] = [];
    const registers = new Map<string, { count: number; total: number }>();
    for (const line of ndjson.split('\n')) {
      const s = JSON.parse(line) as { id: number; key: string; n: number };
      if (name === 'pass-through') out.push(JSON.stringify(s));
      else {
        const r = registers.get(s.key) ?? { count: 0, total: 0 };
        const next = { count: r.count + 1, total: r.total + s.n };
        registers.set(s.key, next);
        out.push(JSON.stringify({ key: s.key, ...next }));
      }
    }
    writeFileSync(join(dir.path, `${name}.ndjson`), out.join('\n'));
    rows.push(`| ${name} | hand-written loop (the limit) | ${Math.round(N / ((performance.now() - t0) / 1000))} | | |`);
  }

  console.error('bench: the hand-written loop done');
  const full = await loadCatalog(join(dir.path, 'all.flow.yaml'));
  for (const only of ['acme/copy', 'acme/totals']) {
    const catalog = { ...full, collections: new Map([...full.collections].filter(([n, c]) => !c.derivation || n === only)) };
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    const rt = await DerivationRuntime.start({ catalog, client, writer: new Appender(client), module: join(dir.path, 'module.mjs'), dataDir: join(dir.path, `rt-${only.split('/')[1]}`), batchSize: 2000 });
    await rt.settled();
    console.error(`bench: ${only} backfilled`);
    const secs = (performance.now() - t0) / 1000;
    const rss = process.memoryUsage().rss;

    // Live: one document at a time, ack → derived document committed.
    const abort = new AbortController();
    const seen = new Map<number, () => void>();
    const reader = (async () => {
      for await (const d of readCollection<{ id?: number; count?: number }>(client, only, { follow: true, signal: abort.signal })) {
        if (only === 'acme/totals' && (d.doc as { key?: string }).key !== 'live') continue;
        const id = only === 'acme/copy' ? d.doc.id! : d.doc.count!;
        seen.get(id)?.();
      }
    })().catch(() => undefined);
    const lat: number[] = [];
    for (let i = 0; i < 200; i++) {
      const id = N + i;
      // acme/copy: wait for the document's id; acme/totals: for a fresh key's count to reach i + 1.
      const want = only === 'acme/copy' ? id : i + 1;
      const arrived = new Promise<void>((ok) => seen.set(want, ok));
      const d = only === 'acme/copy' ? doc(id) : { id, key: 'live', n: 1 };
      const t = performance.now();
      await client.ingest({ 'acme/events': [d] });
      await arrived;
      lat.push(performance.now() - t);
    }
    abort.abort();
    await reader;
    await rt.stop();
    lat.sort((a, b) => a - b);
    const p = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]!.toFixed(1);
    rows.push(
      `| ${only === 'acme/copy' ? 'pass-through' : 'totals'} | inlet (backfill from the lake, then live) | ${Math.round(N / secs)} | ${p(0.5)} / ${p(0.99)} | +${Math.round((rss - rss0) / 2 ** 20)} MiB (${Math.round(rss / 2 ** 20)} MiB) |`,
    );
  }
} finally {
  await broker.stop('SIGTERM');
  await dir.remove();
}
console.log(`Derivations over ${N} source documents (${KEYS} keys for totals):\n`);
console.log('| workload | system | backfill docs/s | live ack→committed p50 / p99 ms | RSS growth (total) |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
