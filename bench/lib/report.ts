import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Limits } from './limits.js';

/** One row of the results: a system on a workload, over several repetitions. */
export interface Row {
  workload: string;
  variant: string;
  system: string;
  reps: number;
  mbps: { median: number; min: number; max: number };
  docsps: number;
  p50?: number;
  p99?: number;
  p999?: number;
  ratioToBestPeer?: number;
  limit?: { name: string; mbps: number };
  ratioToLimit?: number;
  peakRssMiB?: number;
  /** Why the row is incomplete: a repetition failed or timed out (its figures are of the ones before). */
  failed?: string;
}

export interface Report {
  startedAt: string;
  quick: boolean;
  machine: { cpus: number; node: string };
  settings: Record<string, string>;
  limits: Limits;
  rows: Row[];
}

const f = (n: number | undefined, digits = 1) => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));

/** The report as a Markdown table, with the limits and settings it was measured under. */
export function markdown(r: Report): string {
  const lines = [
    `# inlet bench${r.quick ? ' (quick)' : ''}`,
    '',
    `${r.startedAt} · ${r.machine.cpus} cores · Node ${r.machine.node}. Every number below was measured in this one run; ratios compare systems and limits of the same run.`,
    '',
    '| workload | variant | system | MB/s (median) | spread | docs/s | p50 ms | p99 ms | p99.9 ms | × best peer | × limit (limit) | peak RSS MiB | failed |',
    '|---|---|---|---:|---|---:|---:|---:|---:|---:|---|---:|---|',
  ];
  for (const x of r.rows) {
    lines.push(
      `| ${x.workload} | ${x.variant} | ${x.system} | ${f(x.mbps.median)} | ${f(x.mbps.min)}–${f(x.mbps.max)} (${x.reps}×) | ${f(x.docsps, 0)} | ${f(x.p50, 2)} | ${f(x.p99, 2)} | ${f(x.p999, 2)} | ${f(x.ratioToBestPeer, 2)} | ${x.limit ? `${f(x.ratioToLimit, 2)} (${x.limit.name} ${f(x.limit.mbps, 0)} MB/s)` : '–'} | ${f(x.peakRssMiB, 0)} | ${x.failed ? `**failed**: ${x.failed.replace(/\|/g, '\\|')}` : ''} |`,
    );
  }
  lines.push('', '## Physical limits (same run)', '', '| limit | value |', '|---|---:|');
  const l = r.limits;
  lines.push(
    `| loopback TCP | ${f(l.loopbackTcpMBps, 0)} MB/s |`,
    `| fsync'd sequential disk writes (1 MiB + fdatasync) | ${f(l.fsyncDiskMBps, 0)} MB/s |`,
    `| gzip level 1 compress / decompress | ${f(l.gzipCompressMBps, 0)} / ${f(l.gzipDecompressMBps, 0)} MB/s |`,
    `| zstd level 1 compress / decompress | ${f(l.zstdCompressMBps, 0)} / ${f(l.zstdDecompressMBps, 0)} MB/s |`,
    `| JSON.parse of the NDJSON lines | ${f(l.jsonParseMBps, 0)} MB/s, ${f(l.jsonParseDocsPerSec, 0)} docs/s |`,
  );
  lines.push('', '## Settings', '');
  for (const [k, v] of Object.entries(r.settings)) lines.push(`- **${k}**: ${v}`);
  return lines.join('\n') + '\n';
}

/** A horizontal bar chart of one workload: MB/s per system and variant (p99 ms for latency). */
export function svg(workload: string, rows: Row[]): string {
  const latency = rows.every((x) => Number.isNaN(x.mbps.median));
  const value = (x: Row) => (latency ? x.p99 ?? 0 : x.mbps.median);
  const unit = latency ? 'p99 ms (lower is better)' : 'MB/s (median)';
  const max = Math.max(1e-9, ...rows.map(value));
  const barH = 22;
  const left = 260;
  const width = 760;
  const height = 50 + rows.length * (barH + 8);
  const colors: Record<string, string> = { inlet: '#2563eb', 'NATS JetStream': '#16a34a', 'Redis Streams': '#dc2626' };
  const bars = rows.map((x, i) => {
    const y = 36 + i * (barH + 8);
    const w = ((width - left - 80) * value(x)) / max;
    const label = `${x.system} · ${x.variant}`.replace(/&/g, '&amp;').replace(/</g, '&lt;');
    return `<text x="${left - 8}" y="${y + 15}" text-anchor="end" font-size="12">${label}</text>` +
      `<rect x="${left}" y="${y}" width="${Math.max(1, w).toFixed(1)}" height="${barH}" fill="${colors[x.system] ?? '#6b7280'}"/>` +
      `<text x="${left + w + 6}" y="${y + 15}" font-size="12">${f(value(x), latency ? 2 : 1)}${x.failed ? ' (failed)' : ''}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="14" font-weight="bold">${workload}: ${unit}</text>${bars.join('')}</svg>\n`;
}

export async function writeReport(dir: string, r: Report): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'latest.json'), JSON.stringify(r, null, 2) + '\n');
  await writeFile(join(dir, 'latest.md'), markdown(r));
  for (const w of [...new Set(r.rows.map((x) => x.workload))]) {
    await writeFile(join(dir, `${w.split(' ')[0]!.toLowerCase()}.svg`), svg(w, r.rows.filter((x) => x.workload === w)));
  }
}
