import type { CollectionSpec, PartitionSelector } from '../catalog/types.js';
import type { BrokerClient } from '../client/broker-client.js';
import { getPointer } from '../doc/json.js';
import { InletError } from '../errors.js';
import type { ReadCheckpoint } from './reader.js';
import { clockTime, ZERO_CLOCK } from './uuid.js';

export const COLLECTION_LABEL = 'inlet.dev/collection';
export const FIELD_LABEL_PREFIX = 'inlet.dev/field/';

export type PartitionValue = string | number | boolean;

/**
 * Encodes a partition value for a journal name segment and a label value: integers and
 * booleans as written, strings percent-encoded except `A-Z a-z 0-9 . _ -`, so values never
 * clash with the `/`, `=` and `,` of names and selectors.
 */
export function encodePartitionValue(v: PartitionValue): string {
  if (typeof v !== 'string') return String(v);
  let out = '';
  for (const byte of Buffer.from(v, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9._-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function decodePartitionValue(s: string): string {
  return decodeURIComponent(s);
}

/**
 * The journal of a collection's partition: `<collection>/<field>=<value>/…/pivot=00`,
 * fields in sorted order. A collection without partition fields is `<collection>/pivot=00`.
 */
export function partitionJournal(collection: string, fields: readonly string[], values: readonly PartitionValue[]): string {
  let name = collection;
  for (let i = 0; i < fields.length; i++) name += `/${fields[i]}=${encodePartitionValue(values[i]!)}`;
  return `${name}/pivot=00`;
}

/** Labels naming the collection and each partition field's (encoded) value. */
export function partitionLabels(collection: string, fields: readonly string[], values: readonly PartitionValue[]): Record<string, string> {
  const labels: Record<string, string> = { [COLLECTION_LABEL]: collection };
  for (let i = 0; i < fields.length; i++) labels[FIELD_LABEL_PREFIX + fields[i]] = encodePartitionValue(values[i]!);
  return labels;
}

/** The selector of a collection's journals, narrowed by `field=value` partition filters. */
export function collectionSelector(collection: string, filters: Record<string, PartitionValue> = {}): string {
  const terms = [`${COLLECTION_LABEL}=${collection}`];
  for (const [field, value] of Object.entries(filters).sort(([a], [b]) => (a < b ? -1 : 1))) {
    terms.push(`${FIELD_LABEL_PREFIX}${field}=${encodePartitionValue(value)}`);
  }
  return terms.join(',');
}

/** Checks a partition field's value; the schema already requires it, this guards its type. */
export function checkPartitionValue(collection: string, field: string, location: string, v: unknown, index: number): PartitionValue {
  if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v))) return v;
  const what = v === undefined ? 'missing' : `${JSON.stringify(v)?.slice(0, 40)}, not a string, integer or boolean`;
  throw new InletError('INVALID_DOCUMENT', `${collection}[${index}]: partition field ${field} (${location}) is ${what}`, {
    details: { collection, index },
  });
}

/** Whether `doc` of `collection` lies in the partitions `selector` picks (all, without one). */
export function inPartitions(doc: unknown, collection: CollectionSpec, selector: PartitionSelector | undefined): boolean {
  if (!selector) return true;
  const valueOf = (field: string) => getPointer(doc, collection.projections[field]!.location) as PartitionValue;
  for (const [field, values] of Object.entries(selector.include ?? {})) if (!values.includes(valueOf(field))) return false;
  for (const [field, values] of Object.entries(selector.exclude ?? {})) if (values.includes(valueOf(field))) return false;
  return true;
}

/** The write head of each partition journal of `collection`, by journal name: where a reader that has read everything stands. */
export async function collectionHeads(client: BrokerClient, collection: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const j of await client.listJournals(collectionSelector(collection))) out[j.spec.name] = j.writeHead;
  return out;
}

/**
 * How far behind a reader of `heads` is in time, in ms: for each journal not read through, the
 * age of the last transaction it read there (now − the clock of its producers' last ACK); the
 * worst of them. A journal read nowhere near a clock (no ACK read yet) counts from `since`. 0
 * when every journal is read through.
 */
export function lagMs(heads: Record<string, number>, read: ReadCheckpoint, now: number, since: number): number {
  let worst = 0;
  for (const [journal, head] of Object.entries(heads)) {
    const cp = read[journal];
    if ((cp?.readThrough ?? 0) >= head) continue;
    let last = ZERO_CLOCK;
    for (const p of Object.values(cp?.producers ?? {})) if (p.lastAck > last) last = p.lastAck;
    worst = Math.max(worst, now - (last === ZERO_CLOCK ? since : Math.min(now, clockTime(last).getTime())));
  }
  return worst;
}

/** Bytes of `heads` not yet read through, given the offsets read through per journal. */
export function lagBytes(heads: Record<string, number>, readThrough: (journal: string) => number | undefined): number {
  let lag = 0;
  for (const [journal, head] of Object.entries(heads)) lag += Math.max(0, head - (readThrough(journal) ?? 0));
  return lag;
}
