import type { Logger } from 'pino';
import { InletError } from '../errors.js';
import { FragmentIndex, type Fragment } from '../fragments/fragment-index.js';
import { readFragment } from '../fragments/fragment-reader.js';
import { parseFragmentKey } from '../fragments/naming.js';
import { Persister } from '../fragments/persister.js';
import { DEFAULT_POSTFIX_TEMPLATE, postfixPattern } from '../protocol/postfix.js';
import { openStore, sameStoreUrl, type FragmentStore } from '../fragments/stores/index.js';
import type { Readable } from 'node:stream';
import type { Journal } from '../journal/journal.js';
import type { JournalRecord, JournalRegistry } from '../journal/registry.js';
import type { Spool } from '../journal/spool.js';
import { retry } from '../retry.js';
import { parseDuration } from '../units.js';
import type { BrokerConfig } from './config.js';
import type { BrokerMetrics } from './metrics.js';

/** Journal records are mirrored here in the default store; query engines skip `_`-prefixed paths. */
export const RECORDS_PREFIX = '_inlet/journals/';

/**
 * The broker's side of the lake: rolls spools at fragment length and flush intervals,
 * persists them through the Persister, keeps a FragmentIndex per journal from store
 * listings, and mirrors journal records into the default store so a broker started with
 * an empty data dir finds its journals and resumes each at the end of its history.
 */
export class Lake {
  readonly persister: Persister;
  private readonly indexes = new Map<string, FragmentIndex>();
  private readonly refreshedAt = new Map<string, number>();
  private ticker: NodeJS.Timeout | undefined;
  private registry!: JournalRegistry;

  constructor(
    private readonly config: BrokerConfig,
    private readonly metrics: BrokerMetrics,
    private readonly log: Logger,
  ) {
    this.persister = new Persister(
      (url) => this.store(url),
      {
        onPersisted: (journal, spool, fragment, stats) => {
          if (journal.deleted) {
            // Deleted while uploading: the fragment belongs to no journal.
            void this.store(fragment.store).delete(fragment.key).catch(() => undefined);
            return;
          }
          this.index(journal.name).add(fragment);
          journal.release(spool);
          if (journal.localBegin > (this.registry.state(journal.name).persistedEnd ?? 0)) {
            const end = journal.localBegin;
            void this.registry
              .updateState(journal.name, (s) => ({ ...s, persistedEnd: Math.max(s.persistedEnd ?? 0, end) }), { local: true })
              .catch(() => undefined);
          }
          this.metrics.fragmentPersisted(fragment, spool.length, stats);
          this.log.debug({ journal: journal.name, key: fragment.key, bytes: spool.length, ...stats }, 'fragment persisted');
        },
        onRetry: (journal, err, attempt, delayMs) => {
          this.metrics.uploadRetries.inc();
          const level = attempt <= 2 ? 'debug' : 'warn';
          this.log[level]({ journal: journal.name, attempt, delayMs, err: (err as Error).message }, 'fragment upload failed; retrying');
        },
      },
      log,
    );
  }

  /**
   * The store at `url`, if the operator configured it (`--store`, `--stores`); throws
   * STORE_NOT_ALLOWED otherwise. Every write, listing, read and delete of the lake goes through
   * here, so a journal recorded before its store left the configuration touches nothing there.
   */
  store(url: string): FragmentStore {
    if (!this.config.stores.some((s) => sameStoreUrl(s, url))) {
      throw new InletError('STORE_NOT_ALLOWED', `store ${url} is not one of the broker's stores (--store, --stores)`);
    }
    return openStore(url);
  }

  /**
   * The verified bytes `[from, fragment.end)` of a persisted fragment (see readFragment). A
   * corrupt fragment is counted and logged naming the object, and fails with FRAGMENT_CORRUPT.
   */
  async read(fragment: Fragment, from: number): Promise<Readable> {
    try {
      return await readFragment(this.store(fragment.store), fragment, from);
    } catch (err) {
      if ((err as InletError).code === 'FRAGMENT_CORRUPT') {
        this.metrics.corruptFragments.inc();
        this.log.error({ journal: fragment.journal, object: this.store(fragment.store).location(fragment.key), err: (err as Error).message }, 'fragment is corrupt');
      }
      throw err;
    }
  }

  /** Counts `bytes` of history read out of fragments for a reader (`inlet_history_read_bytes_total`). */
  historyRead(bytes: number): void {
    this.metrics.historyReadBytes.inc(bytes);
  }

  /** Hands a sealed spool to the persister (the journal observer's hook). */
  onSeal(journal: Journal, spool: Spool): void {
    this.persister.enqueue(journal, spool);
  }

  /**
   * Adopts journals recorded in the default store but unknown locally, lists every journal's
   * fragments, resumes empty journals at the end of their persisted history, queues spools
   * sealed before a restart, and starts rolling on flush intervals.
   */
  async start(registry: JournalRegistry): Promise<void> {
    this.registry = registry;
    const store = openStore(this.config.store);
    const records = await store.list(RECORDS_PREFIX);
    for (const obj of records) {
      if (!obj.key.endsWith('.json')) continue;
      const name = obj.key.slice(RECORDS_PREFIX.length, -'.json'.length);
      if (registry.get(name) || registry.failures.has(name)) continue;
      try {
        const chunks: Buffer[] = [];
        for await (const c of await store.open(obj.key)) chunks.push(c as Buffer);
        const record = JSON.parse(Buffer.concat(chunks).toString('utf8')) as JournalRecord;
        // Checked as a new spec: a record naming a store or a name this broker refuses is not adopted.
        await registry.create(registry.resolve(record.spec, name), record.stream);
        this.log.info({ journal: name }, 'journal found in the store');
      } catch (err) {
        this.log.error({ journal: name, object: store.location(obj.key), err: (err as Error).message }, 'journal record in the store not adopted');
      }
    }
    // A journal whose store cannot be listed still starts (its reads of history fail); the others serve.
    await Promise.all(
      registry.list().map((j) => this.refresh(j).catch((err: unknown) => this.log.error({ journal: j.name, err: (err as Error).message }, 'cannot list fragments'))),
    );
    for (const j of registry.list()) {
      const listed = this.index(j.name).end;
      const recorded = registry.state(j.name).persistedEnd ?? 0;
      if (recorded > listed) {
        this.log.error({ journal: j.name, listedEnd: listed, recordedEnd: recorded }, 'the store holds less history than was persisted; offsets past its end are reported missing, never reused');
      }
      const end = Math.max(listed, recorded);
      if (j.head < end) {
        j.resumeAt(end);
        this.log.info({ journal: j.name, writeHead: end }, 'resumed at the end of persisted history');
      }
      for (const s of j.sealedSpools) this.persister.enqueue(j, s);
    }
    this.ticker = setInterval(() => this.tick(), 1000);
    this.ticker.unref();
  }

  index(name: string): FragmentIndex {
    let idx = this.indexes.get(name);
    if (!idx) this.indexes.set(name, (idx = new FragmentIndex()));
    return idx;
  }

  /** Re-lists a journal's stores into its index; reports gaps. */
  async refresh(journal: Journal): Promise<void> {
    const idx = this.index(journal.name);
    const since = idx.currentVersion;
    const fragments: Fragment[] = [];
    for (const url of journal.spec.fragment.stores) fragments.push(...(await this.listFragments(journal, url)));
    idx.replace(fragments, since);
    this.refreshedAt.set(journal.name, Date.now());
    for (const [from, to] of idx.gaps) {
      this.log.warn({ journal: journal.name, from, to }, 'persisted history has a gap: no fragment covers these offsets');
    }
  }

  /**
   * Fragments of exactly this journal in one store: keys `<name>/<postfix>/<file>` whose postfix
   * has the shape of the journal's template (or the default one, so lakes written before a
   * template change stay readable), never those of journals named below it.
   */
  async listFragments(journal: Journal, storeUrl: string): Promise<Fragment[]> {
    const store = this.store(storeUrl);
    const { name } = journal;
    const shapes = [postfixPattern(journal.spec.fragment.pathPostfixTemplate), postfixPattern(DEFAULT_POSTFIX_TEMPLATE)];
    const out: Fragment[] = [];
    for (const obj of await store.list(`${name}/`)) {
      const parsed = parseFragmentKey(obj.key, name, shapes);
      if (parsed) out.push({ ...parsed, store: store.url, key: obj.key, size: obj.size, modified: obj.modified });
    }
    return out;
  }

  /** The persisted fragment holding `offset` of `journal`; throws OFFSET_GONE if none does. */
  fragmentAt(journal: Journal, offset: number): Fragment {
    const f = this.index(journal.name).find(offset);
    if (f) return f;
    const next = this.index(journal.name).next(offset)?.begin ?? journal.localBegin;
    throw new InletError('OFFSET_GONE', `journal ${journal.name}: offsets [${offset}, ${next}) are in no fragment of its stores (pruned or missing)`, {
      details: { nextOffset: next },
    });
  }

  /**
   * Mirrors a journal's record into the default store (or removes it). One writer per journal
   * always writes the latest record, so a slow, retried write never lands after a newer one.
   */
  mirrorRecord(name: string, record: JournalRecord | undefined): void {
    const wasIdle = !this.mirrorLatest.has(name);
    this.mirrorLatest.set(name, record);
    if (!wasIdle) return;
    const store = openStore(this.config.store);
    const key = `${RECORDS_PREFIX}${name}.json`;
    void (async () => {
      while (this.mirrorLatest.has(name)) {
        await retry(
          async () => {
            const latest = this.mirrorLatest.get(name);
            if (latest) await store.putBytes(key, Buffer.from(JSON.stringify(latest, null, 2)));
            else await store.delete(key);
            // Done unless a newer record arrived meanwhile.
            if (this.mirrorLatest.get(name) === latest) this.mirrorLatest.delete(name);
          },
          {
            ref: false,
            onRetry: (err, attempt) => {
              if (attempt % 8 === 0) this.log.error({ journal: name, attempt, err: (err as Error).message }, 'cannot mirror the journal record to the store; retrying');
            },
          },
        );
      }
    })();
  }

  private readonly mirrorLatest = new Map<string, JournalRecord | undefined>();

  /** Deletes a journal's fragments from its stores (when the journal itself is deleted). */
  async forget(journal: Journal): Promise<void> {
    for (const url of journal.spec.fragment.stores) {
      const store = this.store(url);
      for (const f of await this.listFragments(journal, url)) await store.delete(f.key);
    }
    this.indexes.delete(journal.name);
  }

  /** Rolls spools whose flush interval has passed, and refreshes indexes when due. */
  private tick(): void {
    const now = Date.now();
    for (const j of this.registry.list()) {
      const spool = j.currentSpool;
      const interval = parseDuration(j.spec.fragment.flushInterval) ?? 0;
      // Intervals align to UTC, so all journals roll together (e.g. on the hour).
      if (spool?.firstAppendAt !== undefined && interval > 0 && Math.floor(spool.firstAppendAt / interval) < Math.floor(now / interval)) {
        void j.seal();
      }
      const refresh = parseDuration(j.spec.fragment.refreshInterval) ?? 0;
      if (refresh > 0 && now - (this.refreshedAt.get(j.name) ?? 0) >= refresh) {
        this.refreshedAt.set(j.name, now);
        this.refresh(j).catch((err: unknown) => this.log.warn({ journal: j.name, err: (err as Error).message }, 'cannot list fragments'));
      }
    }
  }

  /**
   * Seals every spool and waits up to `timeoutMs` for the uploads. Spools not uploaded by then
   * stay on disk, durable, and are persisted by the next start.
   */
  async close(timeoutMs: number): Promise<boolean> {
    clearInterval(this.ticker);
    await Promise.all(this.registry?.list().map((j) => j.seal()) ?? []);
    const done = await this.persister.idle(timeoutMs);
    if (!done) this.log.warn({ backlogBytes: this.persister.backlogBytes }, 'stopping with spools not yet in the store; they upload on the next start');
    await this.persister.close();
    return done;
  }
}
