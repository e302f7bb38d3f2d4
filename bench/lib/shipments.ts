/** About the size of one shipment document, for sizing batches in documents. */
export const DOC_BYTES = 200;

/** Deterministic ~200-byte shipment documents (fixed seed), the bench's one data set. */
export function shipmentDoc(n: number, extra: Record<string, unknown> = {}): string {
  const carriers = ['UPS', 'FedEx', 'DHL', 'USPS'];
  return JSON.stringify({
    id: `shp_${n}`,
    vendor: { name: carriers[n % 4] },
    origin: { zip: String(10000 + ((n * 7919) % 89999)), country: 'US' },
    weightKg: ((n * 31) % 5000) / 100,
    status: n % 3 ? 'in_transit' : 'delivered',
    reference: `PO-${(n * 104729) % 1_000_000_007}`,
    service: n % 2 ? 'ground' : 'express',
    ts: new Date(1_700_000_000_000 + n * 1000).toISOString(),
    ...extra,
  });
}

/** `count` documents starting at `first`, as NDJSON lines. */
export function shipmentLines(first: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => shipmentDoc(first + i) + '\n');
}

/** An NDJSON batch of whole documents, at least one, about `bytes` long; `seed` picks which. */
export function shipmentBatch(seed: number, bytes: number): { body: Buffer; docs: number } {
  const lines: string[] = [];
  let length = 0;
  for (let i = 0; length < bytes; i++) {
    const line = shipmentDoc(seed * 100_000 + i) + '\n';
    lines.push(line);
    length += line.length;
  }
  return { body: Buffer.from(lines.join('')), docs: lines.length };
}
