/**
 * RSS of a derivation runtime with many registers (issue 12): the chat example's userDetails,
 * one register per room, run by `inlet runtime` in a process of its own against a broker whose
 * lake holds N chat documents (N/2 rooms, so N/2 registers). Reports the runtime's peak RSS
 * (VmHWM) and its RSS sampled as registers grow: registers live in SQLite, so RSS must not
 * grow with their number.
 *
 *   node dist/bench/derive-rss.js [--docs N]   # default 2,000,000 documents: 1M registers
 */
import { spawn } from 'node:child_process';
import { cp, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { BrokerClient } from '../src/client/broker-client.js';
import { CHAT, chatDoc } from './lib/derive-workload.js';
import { scratchDir, startInlet, track } from './lib/processes.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const { values } = parseArgs({ options: { docs: { type: 'string' } } });
const docs = Number(values.docs ?? 2_000_000);

const dir = await scratchDir('inlet-bench-derive-rss-');
await cp(CHAT, join(dir.path, 'chat'), { recursive: true, filter: (p) => !p.includes('inlet_generated') });
await writeFile(join(dir.path, 'sources.flow.yaml'), 'import: [chat/inputs.flow.yaml]\n');
const broker = await startInlet(join(dir.path, 'data'), ['--catalog', join(dir.path, 'sources.flow.yaml'), '--store', `file://${join(dir.path, 'lake')}/`]);
try {
  const client = new BrokerClient(broker.url);
  console.error(`derive-rss: ingesting ${docs.toLocaleString('en')} chat documents (${(docs / 2).toLocaleString('en')} rooms)…`);
  for (let at = 0; at < docs; at += 10_000) {
    const batch: Record<string, unknown[]> = { roomUsers: [], messages: [] };
    for (let i = at; i < Math.min(at + 10_000, docs); i++) {
      const { collection, doc } = chatDoc(i);
      batch[collection]!.push(doc);
    }
    await client.ingest(batch);
  }
  await client.flushFragments({ selector: 'inlet.dev/collection' }).catch(() => undefined);

  const dataDir = join(dir.path, 'rt');
  const t0 = performance.now();
  const rt = track(
    spawn(process.execPath, [CLI, 'runtime', '--broker', broker.url, '--catalog', join(dir.path, 'chat/userDetails.flow.yaml'), '--data-dir', dataDir, '--settle'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    }),
  );
  const samples: { s: number; rssMiB: number }[] = [];
  const status = () => {
    try {
      const text = readFileSync(`/proc/${rt.pid}/status`, 'utf8');
      const kib = (k: string) => Number(text.match(new RegExp(`${k}:\\s+(\\d+)`))![1]);
      return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
    } catch {
      return undefined;
    }
  };
  let peak = 0;
  const timer = setInterval(() => {
    const s = status();
    if (!s) return;
    peak = Math.max(peak, s.hwm);
    samples.push({ s: (performance.now() - t0) / 1000, rssMiB: s.rss });
  }, 250);
  const code = await new Promise<number | null>((resolve) => rt.once('exit', (c) => resolve(c)));
  clearInterval(timer);
  const seconds = (performance.now() - t0) / 1000;
  const db = new Database(join(dataDir, 'derive', 'userDetails.sqlite'), { readonly: true });
  const registers = (db.prepare('SELECT count(*) AS n FROM registers').get() as { n: number }).n;
  db.close();
  console.log(`inlet runtime exited ${code} after ${seconds.toFixed(1)} s: ${registers.toLocaleString('en')} registers, ${Math.round(docs / seconds).toLocaleString('en')} docs/s (start-up, module build included)`);
  console.log(`peak RSS (VmHWM) ${peak.toFixed(0)} MiB`);
  // RSS as the registers grew: a tenth of the run at a time.
  const step = Math.max(1, Math.floor(samples.length / 10));
  console.log(samples.filter((_, i) => i % step === 0).map((x) => `${x.s.toFixed(0)} s: ${x.rssMiB.toFixed(0)} MiB`).join(' · '));
} finally {
  await broker.stop('SIGTERM');
  await dir.remove();
}
