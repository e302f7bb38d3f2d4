import { BrokerClient } from '../../src/client/broker-client.js';
import { readCollection } from '../../src/collections/reader.js';

/** POST /ingest with a JSON body (or raw text, for malformed bodies) and optional producer headers. */
export function ingest(b: { url: string }, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${b.url}/ingest`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Every committed document of a collection, as a collection reader yields them. */
export async function committedDocs<T>(b: { url: string }, collection: string, partitions?: Record<string, string>): Promise<T[]> {
  const out: T[] = [];
  for await (const d of readCollection<T>(new BrokerClient(b.url), collection, partitions ? { partitions } : {})) out.push(d.doc);
  return out;
}
