import type { FastifyInstance, FastifyRequest } from 'fastify';
import { InletError } from '../../errors.js';
import { openStore } from '../../fragments/stores/index.js';
import type { Journal } from '../../journal/journal.js';
import { FlushResults, FragmentList, PruneResults, type PrunedFragment } from '../../protocol/fragments.js';
import { parseByteOffset } from '../../protocol/offsets.js';
import { Selector } from '../../protocol/selectors.js';
import { parseDuration } from '../../units.js';
import { authorize, visible } from '../access/index.js';
import type { Broker } from '../broker.js';

/**
 * Fragments of journals, by `journal=<name>` or `selector=<labels>`:
 *
 * - `GET  /v1/fragments?…[&signed=true]` → `{ journals: [{ journal, fragments: [...], gaps, spools }] }`;
 *   with `signed`, each fragment carries a presigned URL for direct reads (valid 1 hour).
 * - `POST /v1/fragments/prune?…&dryRun=false` deletes fragments wholly older than the journal's
 *   retention (by upload time); with `below=<offset>`, instead those wholly below that offset
 *   (what a consumer no longer needs: a derivation's recovery log below its snapshots).
 *   `dryRun` defaults to true.
 * - `POST /v1/fragments/flush?…[&timeout=60s]` seals the journals' spools now, rather than at
 *   their flush interval, and answers once every fragment is in the store (or 503 at the timeout):
 *   `{ journals: [{ journal, persistedThrough }] }`.
 */
export function fragmentRoutes(app: FastifyInstance, broker: Broker): void {
  /** The journal named, or those of the selector that the request's token may act on. */
  const pick = (req: FastifyRequest): Journal[] => {
    const q = req.query as Record<string, string | undefined>;
    if (q.journal) {
      const journal = broker.registry.require(q.journal);
      authorize(req, journal.spec);
      return [journal];
    }
    if (q.selector !== undefined) return visible(req, broker.registry.list(Selector.parse(q.selector)), (j) => j.spec);
    throw new InletError('BAD_REQUEST', 'give journal=<name> or selector=<labels>');
  };

  app.get('/v1/fragments', { schema: { response: { 200: FragmentList } } }, async (req): Promise<FragmentList> => {
    const q = req.query as Record<string, string | undefined>;
    const out = [];
    for (const j of pick(req)) {
      await broker.lake.refresh(j);
      const idx = broker.lake.index(j.name);
      out.push({
        journal: j.name,
        writeHead: j.head,
        fragments: await Promise.all(
          idx.fragments.map(async (f) => ({
            begin: f.begin,
            end: f.end,
            size: f.end - f.begin,
            compressedSize: f.size,
            codec: f.codec,
            sha1: f.sha1,
            modified: f.modified.toISOString(),
            store: f.store,
            key: f.key,
            location: openStore(f.store).location(f.key),
            ...(q.signed === 'true' ? { url: await openStore(f.store).presign(f.key, 3600) } : {}),
          })),
        ),
        gaps: idx.gaps.map(([begin, end]) => ({ begin, end })),
        spools: [...j.sealedSpools, ...(j.currentSpool ? [j.currentSpool] : [])].map((s) => ({ begin: s.begin, end: s.end, sealed: s.sealed })),
      });
    }
    return { journals: out };
  });

  app.post('/v1/fragments/flush', { schema: { response: { 200: FlushResults } } }, async (req): Promise<FlushResults> => {
    const q = req.query as Record<string, string | undefined>;
    const timeoutMs = q.timeout !== undefined ? parseDuration(q.timeout) : 60_000;
    if (timeoutMs === undefined || timeoutMs === null) throw new InletError('BAD_REQUEST', `timeout: must be a duration like 60s, got ${JSON.stringify(q.timeout)}`);
    const journals = pick(req);
    const heads = await Promise.all(journals.map(async (j) => (await j.seal(), j.head)));
    if (!(await broker.lake.persister.idle(timeoutMs))) {
      throw new InletError('STORE_UNAVAILABLE', `fragments are still uploading after ${q.timeout ?? '60s'}; the store may be slow or unreachable`);
    }
    await Promise.all(journals.map((j) => broker.lake.refresh(j)));
    return { journals: journals.map((j, i) => ({ journal: j.name, persistedThrough: heads[i]! })) };
  });

  app.post('/v1/fragments/prune', { schema: { response: { 200: PruneResults } } }, async (req): Promise<PruneResults> => {
    const q = req.query as Record<string, string | undefined>;
    const dryRun = q.dryRun !== 'false';
    const below = q.below === undefined ? undefined : parseByteOffset(q.below, 'below');
    const pruned: PrunedFragment[] = [];
    for (const j of pick(req)) {
      const retention = parseDuration(j.spec.fragment.retention) ?? 0;
      if (below === undefined && retention <= 0) continue;
      await broker.lake.refresh(j);
      const cutoff = Date.now() - retention;
      for (const f of broker.lake.index(j.name).fragments) {
        if (below !== undefined ? f.end > below : f.modified.getTime() >= cutoff) continue;
        if (!dryRun) await openStore(f.store).delete(f.key);
        pruned.push({ journal: j.name, begin: f.begin, end: f.end, location: openStore(f.store).location(f.key), modified: f.modified.toISOString() });
      }
      if (!dryRun) await broker.lake.refresh(j);
    }
    return { dryRun, pruned };
  });
}
