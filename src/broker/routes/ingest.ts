import type { FastifyInstance } from 'fastify';
import { InletError } from '../../errors.js';
import type { ProducerRef } from '../../collections/ingest.js';
import { COLLECTION_LABEL } from '../../collections/partitions.js';
import type { Broker } from '../broker.js';

/**
 * Collections of the broker's catalog.
 *
 * - `POST /ingest` with `{ "<collection>": [documents…], … }`: one transaction. Optional
 *   `Producer-Id` and `Producer-Seq` headers name the client and its request, so a retry of
 *   the last committed request is answered without writing again.
 *   → `{ journals: { "<journal>": endOffset }, received, stored }`
 * - `GET /v1/collections` → `{ collections: [{ name, key, partitionFields, projections, journals }] }`
 */
export function ingestRoutes(app: FastifyInstance, broker: Broker): void {
  app.post('/ingest', async (req) => {
    if (!broker.ingester) {
      throw new InletError('COLLECTION_NOT_FOUND', 'this broker serves no catalog: start it with --catalog FILE (or inlet develop --source FILE)');
    }
    const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch (err) {
      throw new InletError('BAD_REQUEST', `the body is not valid JSON: ${(err as Error).message}`);
    }
    return broker.ingester.ingest(body, producerOf(req.headers));
  });

  app.get('/v1/collections', async () => ({
    collections: [...broker.collections.values()].map(({ spec }) => ({
      name: spec.name,
      key: spec.key,
      partitionFields: spec.partitionFields,
      projections: spec.projections,
      journals: broker.registry
        .list()
        .filter((j) => j.spec.labels[COLLECTION_LABEL] === spec.name)
        .map((j) => j.name),
    })),
  }));
}

function producerOf(headers: Record<string, string | string[] | undefined>): ProducerRef | undefined {
  const id = headers['producer-id'];
  const seq = headers['producer-seq'];
  if (id === undefined && seq === undefined) return undefined;
  if (typeof id !== 'string' || id === '' || typeof seq !== 'string' || !/^\d{1,15}$/.test(seq)) {
    throw new InletError('BAD_REQUEST', 'Producer-Id (a non-empty string) and Producer-Seq (a non-negative integer) go together');
  }
  return { id, seq: Number(seq) };
}
