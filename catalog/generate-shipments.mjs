#!/usr/bin/env node
// Sample documents for catalog/shipments.flow.yaml: `node catalog/generate-shipments.mjs [COUNT] [--seed N]`
// prints COUNT shipment updates as NDJSON (default 10000). The same seed prints the same
// documents. About one update in four is for a shipment seen before, so ingesting them shows
// documents with equal keys combining.
const args = process.argv.slice(2);
const count = Number(args.find((a) => /^\d+$/.test(a)) ?? 10000);
const seedAt = args.indexOf('--seed');
let state = seedAt >= 0 ? Number(args[seedAt + 1]) >>> 0 || 1 : 20261121;

// xorshift32: small, fast and deterministic.
const rand = () => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
};
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const carriers = ['UPS', 'FedEx', 'DHL', 'USPS'];
const statuses = ['label_created', 'in_transit', 'delivered', 'exception'];
const start = Date.UTC(2026, 10, 1);

let out = '';
let shipments = 0;
const vendorOf = new Map();
for (let i = 0; i < count; i++) {
  const again = shipments > 0 && rand() < 0.25;
  const n = again ? Math.floor(rand() * shipments) : shipments++;
  if (!vendorOf.has(n)) vendorOf.set(n, pick(carriers));
  const ts = new Date(start + i * 60_000 + Math.floor(rand() * 60_000)).toISOString();
  const status = again ? pick(statuses.slice(1)) : 'label_created';
  out +=
    JSON.stringify({
      id: `shp_${n}`,
      vendor: { name: vendorOf.get(n) },
      origin: { zip: String(10000 + Math.floor(rand() * 89999)), country: 'US' },
      weightKg: Math.round(rand() * 5000) / 100,
      service: pick(['ground', 'express']),
      status,
      reference: `PO-${Math.floor(rand() * 1e9)}`,
      ts,
      firstSeen: ts,
      scans: 1,
      events: [{ ts, status }],
    }) + '\n';
  if (out.length > 1 << 16) {
    if (!process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
    out = '';
  }
}
process.stdout.write(out);
