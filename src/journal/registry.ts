import { readdirSync, readFileSync, type Dirent } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { InletError, storageError } from '../errors.js';
import { KeyLock } from '../key-lock.js';
import { Selector } from '../protocol/selectors.js';
import { signal, type Signal } from './deferred.js';
import { journalFailed } from './failure.js';
import { writeFileAtomic } from './fsutil.js';
import { Journal, notFound, removeOwnFiles, type JournalObserver } from './journal.js';
import { OpenFiles } from './open-files.js';
import { ProducerLog, type LoggedLine } from './producer-log.js';
import { resolveSpec, sameSpec, type JournalSpec, type SpecDefaults } from './spec.js';
import type { ProducerState, StreamState } from './stream-state.js';

const RECORD_FILE = '@journal.json';

/** What is kept on disk of a journal besides its bytes. */
export interface JournalRecord {
  spec: JournalSpec;
  stream: StreamState;
}

export type ApplyAction = 'created' | 'updated' | 'unchanged';

/**
 * All journals of a broker: loads them from the data dir at start, creates, updates and
 * deletes them durably, and finds them by name or label selector.
 */
export class JournalRegistry {
  private readonly journals = new Map<string, Journal>();
  private readonly states = new Map<string, StreamState>();
  /** Each journal's durable producer progress (see ProducerLog); the record holds a snapshot of it. */
  private readonly producerLogs = new Map<string, ProducerLog>();
  // Serializes changes per name, so concurrent creates of one journal agree.
  private readonly locks = new KeyLock();
  /** Called after a journal's record is written (or, with undefined, removed). */
  onChange: ((name: string, record: JournalRecord | undefined) => void) | undefined;
  /**
   * Names the set of journals and their specs as listed: it changes whenever a journal is
   * created, updated, closed or deleted (not on appends), so a listing can be watched. Unique
   * to this process's life, so a watcher of an earlier broker is answered at once.
   */
  get revision(): string {
    return `${this.boot}.${this.changes}`;
  }
  private readonly boot = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  private changes = 0;
  private listChanged: Signal = signal();

  /** Journals that failed recovery, with the JOURNAL_FAILED error their requests answer. */
  readonly failures = new Map<string, InletError>();

  private constructor(
    readonly root: string,
    readonly defaults: SpecDefaults,
    private readonly observer: JournalObserver | undefined,
    private readonly files: OpenFiles,
  ) {}

  /**
   * Opens every journal under `<dataDir>/journals`, recovering spools after a crash. It reads
   * synchronously, one journal after the other: nothing else runs before the broker serves, and
   * a thread pool hop per file made restarts with 10,000 journals take tens of seconds. A journal whose record is unreadable or whose spools are damaged is not loaded: it
   * lands in `failures` (its requests answer JOURNAL_FAILED) and every other journal serves.
   */
  static async load(
    dataDir: string,
    defaults: SpecDefaults,
    observer?: JournalObserver,
    opts: { maxOpenSpools?: number } = {},
  ): Promise<JournalRegistry> {
    const reg = new JournalRegistry(join(dataDir, 'journals'), defaults, observer, new OpenFiles(opts.maxOpenSpools ?? Infinity));
    for (const dir of findRecords(reg.root)) await reg.loadOne(dir);
    return reg;
  }

  private async loadOne(dir: string): Promise<void> {
    let record: JournalRecord;
    try {
      record = JSON.parse(readFileSync(join(dir, RECORD_FILE), 'utf8')) as JournalRecord;
      if (typeof record?.spec?.name !== 'string' || typeof record.stream !== 'object' || record.stream === null) throw new Error('it lacks spec.name or stream');
    } catch (err) {
      const name = relative(this.root, dir).split(sep).join('/');
      this.failures.set(name, journalFailed(name, `its record ${RECORD_FILE} is unreadable: ${(err as Error).message}`));
      return;
    }
    try {
      const journal = await Journal.open(record.spec, dir, this.observer, record.stream.forkOffset ?? 0, this.files);
      // Every append logged was written to a spool, and a spool leaves only once durable: without
      // spools, every line's append is durable; with them, those up to the recovered head.
      const head = journal.hasSpools ? journal.head : Infinity;
      const log = ProducerLog.load(dir, record.stream.producers, head, this.compactor(record.spec.name));
      this.journals.set(record.spec.name, journal);
      this.producerLogs.set(record.spec.name, log);
      this.states.set(record.spec.name, log.durable.size > 0 ? { ...record.stream, producers: Object.fromEntries(log.durable) } : record.stream);
      this.sorted = undefined;
    } catch (err) {
      const name = record.spec.name;
      this.failures.set(name, err instanceof InletError && err.code === 'JOURNAL_FAILED' ? err : journalFailed(name, (err as Error).message));
    }
  }

  /** How many spools have their files open (bounded by `maxOpenSpools` while idle). */
  get openSpools(): number {
    return this.files.size;
  }

  get(name: string): Journal | undefined {
    return this.journals.get(name);
  }

  /** The journal named `name`; throws JOURNAL_NOT_FOUND. */
  require(name: string): Journal {
    const j = this.journals.get(name);
    if (!j) throw this.failures.get(name) ?? notFound(name);
    return j;
  }

  state(name: string): StreamState {
    const s = this.states.get(name);
    if (!s) throw notFound(name);
    return s;
  }

  /** Journals matching `selector` (all when absent), sorted by name. */
  list(selector?: Selector): readonly Journal[] {
    // Kept sorted between changes: with 10,000 journals, sorting on each call (once per journal
    // at start) made restarts take tens of seconds.
    this.sorted ??= [...this.journals.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return selector ? this.sorted.filter((j) => selector.matches(j.spec.labels)) : this.sorted;
  }

  private sorted: Journal[] | undefined;

  /** Journals named below `name` (`name/…`), found by binary search in the sorted list. */
  below(name: string): Journal[] {
    const sorted = this.list() as Journal[];
    const prefix = `${name}/`;
    let lo = 0;
    for (let hi = sorted.length; lo < hi; ) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]!.name < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out: Journal[] = [];
    for (let i = lo; i < sorted.length && sorted[i]!.name.startsWith(prefix); i++) out.push(sorted[i]!);
    return out;
  }

  /** Fills a user's spec from the broker's defaults; throws INVALID_SPEC naming the field. */
  resolve(input: unknown, where = ''): JournalSpec {
    return resolveSpec(input, this.defaults, where);
  }

  /**
   * Creates the journal, or checks that an existing one is the same (returning false).
   * `decide` sees the existing journal's record and may throw to refuse.
   */
  create(spec: JournalSpec, stream: StreamState, decide?: (existing: JournalRecord) => void): Promise<boolean> {
    return this.locks.run(spec.name, async () => {
      // A failed journal's files are kept for its operator: never create over them.
      const failed = this.failures.get(spec.name);
      if (failed) throw failed;
      const existing = this.journals.get(spec.name);
      if (existing) {
        decide?.({ spec: existing.spec, stream: this.states.get(spec.name)! });
        return false;
      }
      const dir = this.dirOf(spec.name);
      let journal: Journal;
      try {
        // Files left by a deletion that crashed midway belong to no journal.
        await removeOwnFiles(dir);
        await mkdir(dir, { recursive: true });
        await writeFileAtomic(join(dir, RECORD_FILE), JSON.stringify({ spec, stream }, null, 2));
        journal = await Journal.open(spec, dir, this.observer, stream.forkOffset ?? 0, this.files);
      } catch (err) {
        // A journal half created (a full disk) must not reappear at the next start.
        await removeOwnFiles(dir).catch(() => undefined);
        throw err instanceof InletError ? err : storageError(err, `creating journal ${spec.name}`);
      }
      this.journals.set(spec.name, journal);
      this.producerLogs.set(spec.name, ProducerLog.load(dir, stream.producers, Infinity, this.compactor(spec.name)));
      this.states.set(spec.name, stream);
      this.sorted = undefined;
      this.recordChanged(spec.name, { spec, stream });
      return true;
    });
  }

  /** Creates or updates journals from complete specs; with `dryRun`, only reports. */
  async apply(specs: JournalSpec[], dryRun = false): Promise<{ name: string; action: ApplyAction }[]> {
    const out: { name: string; action: ApplyAction }[] = [];
    for (const spec of specs) {
      const existing = this.journals.get(spec.name);
      const action: ApplyAction = !existing ? 'created' : sameSpec(existing.spec, spec) ? 'unchanged' : 'updated';
      out.push({ name: spec.name, action });
      if (dryRun || action === 'unchanged') continue;
      if (action === 'created') {
        await this.create(spec, { createdAt: new Date().toISOString() });
      } else {
        // In memory first, so a watcher the change wakes lists the new spec.
        const previous = existing!.spec;
        existing!.spec = spec;
        try {
          await this.updateRecord(spec.name, (r) => ({ ...r, spec }));
        } catch (err) {
          existing!.spec = previous;
          throw err;
        }
      }
    }
    return out;
  }

  /** Resolves at the next change of `revision`. Costs nothing while idle. */
  nextListChange(): Promise<void> {
    return this.listChanged.promise;
  }

  private recordChanged(name: string, record: JournalRecord | undefined): void {
    this.changes++;
    const fired = this.listChanged;
    this.listChanged = signal();
    fired.fire();
    this.onChange?.(name, record);
  }

  /** Changes a journal's stream state in memory only; `updateState` makes it durable. */
  setState(name: string, state: StreamState): void {
    this.require(name);
    this.states.set(name, state);
  }

  /** Changes a journal's stream state durably. */
  async updateState(name: string, change: (s: StreamState) => StreamState, opts: { local?: boolean } = {}): Promise<StreamState> {
    let next!: StreamState;
    await this.updateRecord(name, (r) => ({ ...r, stream: change(r.stream) }), opts.local, () => {
      // Appends may have changed the state in memory while the record was written: apply the
      // change to that state rather than restore the snapshot written (which would undo them).
      next = change(this.states.get(name)!);
      this.states.set(name, next);
    });
    return next;
  }

  /**
   * Makes producer `id`'s progress durable, its append being durable already: an append to the
   * journal's producer log, shared with the other producers' of the moment.
   */
  recordProducer(name: string, id: string, state: ProducerState): Promise<void> {
    const line = this.logProducer(name, id, state);
    line.confirm();
    return line.written;
  }

  /**
   * Logs producer `id`'s progress for an append whose bytes are written, not yet durable (see
   * ProducerLog.log): its line goes to disk while the append's bytes do. Failures are storage errors.
   */
  logProducer(name: string, id: string, state: ProducerState): LoggedLine {
    const log = this.producerLogs.get(name);
    if (!log) {
      const written = Promise.reject(notFound(name));
      written.catch(() => undefined);
      return { written, confirm: () => undefined, cancel: () => Promise.resolve() };
    }
    const line = log.log(id, state);
    const wrap = (err: unknown) => Promise.reject(storageError(err, `recording a producer of journal ${name}`));
    const written = line.written.catch(wrap);
    written.catch(() => undefined);
    return { written, confirm: () => line.confirm(), cancel: () => line.cancel().catch(wrap) };
  }

  /** Folds a journal's producer log into its record (the log starts over after). */
  private compactor(name: string): () => Promise<void> {
    return () => this.updateRecord(name, (r) => r, true);
  }

  /**
   * Rewrites a journal's record durably, then runs `written` (which sets memory to match), then
   * tells watchers and, unless `local`, observers (the store mirror): a watcher woken by the
   * change lists it whole. Its producers are the durable ones of the producer log, never those
   * of appends in flight.
   */
  private updateRecord(name: string, change: (r: JournalRecord) => JournalRecord, local = false, written?: () => void): Promise<void> {
    return this.locks.run(name, async () => {
      const j = this.require(name);
      const log = this.producerLogs.get(name);
      const current = this.states.get(name)!;
      const stream = log ? { ...current, producers: log.snapshot() } : current;
      const record = change({ spec: j.spec, stream });
      await writeFileAtomic(join(j.dir, RECORD_FILE), JSON.stringify(record, null, 2)).catch((err: unknown) => {
        throw storageError(err, `updating journal ${name}`);
      });
      written?.();
      if (!local) this.recordChanged(name, record);
    });
  }

  /** Deletes a journal and its local data. */
  remove(name: string): Promise<void> {
    return this.locks.run(name, async () => {
      const j = this.require(name);
      this.journals.delete(name);
      this.states.delete(name);
      await this.producerLogs.get(name)?.close();
      this.producerLogs.delete(name);
      this.sorted = undefined;
      await j.remove();
      this.recordChanged(name, undefined);
    });
  }

  /** Waits for in-flight appends of every journal, then closes their files. */
  async close(): Promise<void> {
    await Promise.all([...this.journals.values()].map((j) => j.close()));
    await Promise.all([...this.producerLogs.values()].map((l) => l.close()));
  }

  private dirOf(name: string): string {
    return join(this.root, ...name.split('/'));
  }
}

/** Folders holding a journal record, found by walking `root`. */
function findRecords(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (entries.some((e) => e.isFile() && e.name === RECORD_FILE)) out.push(dir);
    for (const e of entries) if (e.isDirectory()) walk(join(dir, e.name));
  };
  walk(root);
  return out;
}
