import type { FastifyInstance } from 'fastify';
import { InletError } from '../../errors.js';
import { parseJournalsFile } from '../../journal/apply-file.js';
import { ApplyResults, JournalList } from '../../protocol/journals.js';
import { Selector } from '../../protocol/selectors.js';
import { authorize, visible } from '../access/index.js';
import type { Broker } from '../broker.js';

/**
 * What the Durable Streams protocol lacks: specs, labels and selector listing.
 *
 * - `GET  /v1/journals[?selector=…][&watch=REVISION]`  → `{ journals: [{ spec, writeHead, … }], revision }`;
 *   with `watch`, answered once the set of journals differs from REVISION (or at the long-poll timeout)
 * - `POST /v1/journals/apply[?dryRun=true]` with `{ journals: [spec…] }` (JSON) or a journals
 *   YAML file → `{ results: [{ name, action: created | updated | unchanged }] }`. All specs are
 *   validated before any is applied.
 */
export function journalRoutes(app: FastifyInstance, broker: Broker): void {
  app.get('/v1/journals', { schema: { response: { 200: JournalList } } }, async (req, reply): Promise<JournalList> => {
    const q = req.query as Record<string, string | undefined>;
    const selector = q.selector ? Selector.parse(q.selector) : undefined;
    if (q.watch !== undefined) {
      const gone = new AbortController();
      const onClose = () => gone.abort();
      reply.raw.once('close', onClose);
      await broker.waitForListChange(q.watch, gone.signal);
      reply.raw.off('close', onClose);
    }
    return {
      revision: broker.registry.revision,
      journals: visible(req, broker.registry.list(selector), (j) => j.spec).map((j) => {
        const st = broker.registry.state(j.name);
        return {
          spec: j.spec,
          writeHead: j.head,
          ...(st.closed ? { closed: true } : {}),
          ...(st.forkedFrom !== undefined ? { forkedFrom: st.forkedFrom, forkOffset: st.forkOffset } : {}),
          ...(st.softDeleted ? { deleted: true } : {}),
        };
      }),
    };
  });

  app.post('/v1/journals/apply', { schema: { response: { 200: ApplyResults } } }, async (req): Promise<ApplyResults> => {
    const q = req.query as Record<string, string | undefined>;
    const body = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    const type = String(req.headers['content-type'] ?? '');
    let inputs: { input: unknown; where: string }[];
    if (type.includes('json')) {
      let doc: unknown;
      try {
        doc = JSON.parse(body);
      } catch (err) {
        throw new InletError('INVALID_SPEC', `request body is not valid JSON: ${(err as Error).message}`);
      }
      const list = (doc as { journals?: unknown })?.journals;
      if (!Array.isArray(list)) throw new InletError('INVALID_SPEC', 'journals: must be a list');
      inputs = list.map((input, i) => ({ input, where: `journals[${i}]` }));
    } else {
      inputs = parseJournalsFile(body);
    }
    const specs = inputs.map(({ input, where }) => broker.registry.resolve(input, where));
    const names = new Set<string>();
    for (const [i, s] of specs.entries()) {
      if (names.has(s.name)) throw new InletError('INVALID_SPEC', `${inputs[i]!.where}.name: ${s.name} appears twice`);
      names.add(s.name);
      authorize(req, s);
      const existing = broker.registry.get(s.name);
      if (existing) authorize(req, existing.spec);
    }
    return { dryRun: q.dryRun === 'true', results: await broker.registry.apply(specs, q.dryRun === 'true') };
  });
}
