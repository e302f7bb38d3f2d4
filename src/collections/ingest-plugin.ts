import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Catalog } from '../catalog/types.js';
import { InletError } from '../errors.js';
import { findInexactInteger, inexactReason } from '../protocol/json-exact.js';
import { formatPointer } from '../doc/json.js';
import type { RequestGuard, Target } from '../protocol/auth.js';
import { CollectionList, IngestResult } from '../protocol/collections.js';
import { checkJsonDepth } from '../protocol/json-depth.js';
import type { JournalSpec, JournalSpecInput } from '../protocol/journal-spec.js';
import { compileCatalog, type Collection } from './collection.js';
import type { JournalWriter } from '../client/journal-writer.js';
import { Ingester, type ProducerRef } from './ingest.js';
import { COLLECTION_LABEL } from './partitions.js';

/** What collections need of the broker they run in: the journal writer, and the journals' specs. */
export interface BrokerPort extends JournalWriter {
  /** The specs of every journal. */
  journals(): JournalSpec[];
  /** Applies changed specs of existing journals; resolves with how many changed. */
  update(inputs: JournalSpecInput[]): Promise<number>;
}

/** Bounds on one `/ingest` request: its body's bytes and its JSON nesting. */
export interface IngestLimits {
  readonly maxBodySize: number;
  readonly maxDepth: number;
}

/** A catalog's collections being served: compiled, with their ingestion. */
export interface ServedCollections {
  readonly collections: ReadonlyMap<string, Collection>;
  readonly ingester: Ingester;
}

/**
 * Loads and compiles the catalog at `path`, finishes the ingest transactions a crash
 * interrupted (their log is `<dataDir>/ingest`), and brings partition journals to their
 * collection's fragment settings. Throws INVALID_CATALOG or INVALID_SCHEMA for a bad catalog.
 */
export async function openCollections(catalog: Catalog, path: string, dataDir: string, broker: BrokerPort, log: Logger): Promise<ServedCollections> {
  const collections = compileCatalog(catalog);
  const ingester = await Ingester.open(join(dataDir, 'ingest'), collections, broker, log);
  // Partition journals follow their collection's fragment settings as the catalog changes.
  const updates: JournalSpecInput[] = [];
  for (const spec of broker.journals()) {
    const fragment = collections.get(spec.labels[COLLECTION_LABEL] ?? '')?.spec.journals.fragment;
    if (fragment) updates.push({ name: spec.name, labels: spec.labels, contentType: spec.contentType, validateJson: spec.validateJson, fragment });
  }
  const changed = await broker.update(updates);
  log.info({ catalog: path, collections: [...collections.keys()], journalsUpdated: changed }, 'catalog loaded');
  return { collections, ingester };
}

/**
 * The collections of a catalog, as a fastify plugin; `served` is undefined for a broker without
 * a catalog, whose `/ingest` then answers COLLECTION_NOT_FOUND. Closing the server closes ingestion.
 *
 * - `POST /ingest` with `{ "<collection>": [documents…], … }`: one transaction. Bodies over
 *   `limits.maxBodySize` get 413 and bodies nested deeper than `limits.maxDepth` 400, before
 *   anything is parsed further or written (a 50 MB body stalled the event loop for 1.4 s, and
 *   JSON nested 100,000 deep answered 500). Optional
 *   `Producer-Id` and `Producer-Seq` headers name the client and its request, so a retry of
 *   the last committed request is answered without writing again.
 *   → `{ journals: { "<journal>": endOffset }, received, stored }`
 * - `GET /v1/collections` → `{ collections: [{ name, key, partitionFields, projections, journals }] }`
 *
 * `guard` scopes both by the request's token: `/ingest` needs its capability on every collection
 * of the body, and the listing shows only the collections the token covers.
 */
export async function collectionsPlugin(
  app: FastifyInstance,
  opts: { broker: BrokerPort; served: ServedCollections | undefined; limits: IngestLimits; guard: RequestGuard<FastifyRequest> },
): Promise<void> {
  const { broker, served, limits, guard } = opts;
  if (served) app.addHook('onClose', () => served.ingester.close());

  app.post('/ingest', { bodyLimit: limits.maxBodySize, schema: { response: { 200: IngestResult } } }, async (req): Promise<IngestResult> => {
    if (!served) {
      throw new InletError('COLLECTION_NOT_FOUND', 'this broker serves no catalog: start it with --catalog FILE (or inlet develop --source FILE)');
    }
    const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch (err) {
      // NDJSON is the likeliest mistake (it is what `inlet ingest` reads): say what the route wants instead.
      const ndjson = raw.trim().includes('\n') ? ' (it looks like NDJSON: send documents as one JSON object, or pipe NDJSON to inlet ingest COLLECTION)' : '';
      throw new InletError('BAD_REQUEST', `the body is not valid JSON: ${(err as Error).message}; /ingest takes one JSON object {"<collection>": [documents…]}${ndjson}`);
    }
    checkJsonDepth(body, limits.maxDepth, 'the body', '--max-json-depth');
    if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
      for (const collection of Object.keys(body)) guard.authorize(req, collectionTarget(collection));
    }
    // Documents are stored as they were sent: a number JSON cannot hold exactly is refused, not rounded.
    const inexact = findInexactInteger(raw, body);
    if (inexact) {
      const [collection = '', index = '', ...rest] = inexact.path;
      throw new InletError('INVALID_DOCUMENT', `${collection}[${index}]: ${formatPointer(rest) || '(root)'}: ${inexactReason(inexact)}`, {
        details: { collection, index: Number(index) },
      });
    }
    return served.ingester.ingest(body, producerOf(req.headers));
  });

  app.get('/v1/collections', { schema: { response: { 200: CollectionList } } }, async (req): Promise<CollectionList> => ({
    collections: guard.visible(req, [...(served?.collections.values() ?? [])], ({ spec }) => collectionTarget(spec.name)).map(({ spec }) => ({
      name: spec.name,
      key: spec.key,
      partitionFields: spec.partitionFields,
      projections: spec.projections,
      journals: broker
        .journals()
        .filter((j) => j.labels[COLLECTION_LABEL] === spec.name)
        .map((j) => j.name),
    })),
  }));
}

/** A token scopes a collection by its journals' collection label (`inlet.dev/collection=NAME`) or its name. */
function collectionTarget(name: string): Target {
  return { name, labels: { [COLLECTION_LABEL]: name } };
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
