import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';

/** Deterministic ~200-byte shipment documents for a carrier. */
export function shipment(i: number, carrier: string): string {
  return JSON.stringify({
    id: `shp_${i}`,
    vendor: { name: carrier },
    origin: { zip: String(10000 + ((i * 7919) % 89999)), country: 'US' },
    weightKg: ((i * 31) % 5000) / 100,
    status: i % 3 === 0 ? 'delivered' : 'in_transit',
    reference: `PO-${(i * 104729) % 1_000_000_007}`,
    ts: new Date(1_700_000_000_000 + i * 1000).toISOString(),
  }) + '\n';
}

export const FRAGMENT_FILE = /^([0-9a-f]{16})-([0-9a-f]{16})-([0-9a-f]{40})\.gz$/;

/** Checks one gzip fragment against the bytes it must hold; returns a problem or undefined. */
export function checkFragment(name: string, compressed: Buffer, expected: Buffer): string | undefined {
  const m = name.match(FRAGMENT_FILE);
  if (!m) return `bad name ${name}`;
  const [begin, end] = [parseInt(m[1]!, 16), parseInt(m[2]!, 16)];
  const content = gunzipSync(compressed);
  if (content.length !== end - begin) return `${name}: ${content.length} bytes, name says ${end - begin}`;
  if (createHash('sha1').update(content).digest('hex') !== m[3]) return `${name}: SHA-1 mismatch`;
  if (!content.equals(expected.subarray(begin, end))) return `${name}: content differs from what was appended`;
  return undefined;
}
