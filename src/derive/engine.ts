import type { CollectionSpec, TransformSpec } from '../catalog/types.js';
import type { Collection } from '../collections/collection.js';
import { inPartitions } from '../collections/partitions.js';
import type { SequencedDocument } from '../collections/sequencer.js';
import type { Application, Finalized, Transaction } from '../consumer/types.js';
import { cloneJson, packKey } from '../doc/json.js';
import { CollectionSchema } from '../doc/schema.js';
import { InletError, type ErrorCode } from '../errors.js';
import { ReaderError } from '../readers/types.js';
import { LambdaError, type BatchArgs, type LambdaOutput, type Lambdas } from './lambdas.js';
import type { RegisterStore } from './store.js';

/** Batches started through the lambdas and not yet published, beyond which `consume` waits. */
const MAX_INFLIGHT = 2;

/** Counters of a derivation's committed transactions (read by status and metrics). */
export interface DerivationCounters {
  read: number;
  published: number;
}

interface Pending {
  d: SequencedDocument;
  transform: Transform;
}

/** Documents flushed together through the lambdas. */
interface Batch {
  items: Pending[];
  /** The counts of the transaction the batch belongs to. */
  counts: DerivationCounters;
  byTransform: Map<string, Pending[]>;
  /** The update lambdas' results, once asked for (`askUpdates`). */
  updates?: Promise<Map<Pending, unknown[]>>;
}

interface Transform {
  spec: TransformSpec;
  /** The transform's source collection, whose partitions `spec.reads.partitions` may narrow. */
  source: CollectionSpec;
}

/**
 * A derivation as a consumer `Application` (Flow's semantics): each committed source document
 * goes to every transform reading its collection (and whose partition filter it passes); it is
 * shuffled on the transform's key to one register (absent: the register's `initial`);
 * `update(source)` returns register updates, each validated against the register schema and
 * reduced into the register; `publish(source, register, previous)` returns documents of the
 * derived collection, validated against its schema and published into the transaction (which
 * combines them by key); with `Lambdas.output`, that happens where the lambdas run and the
 * transaction takes them encoded. Documents are buffered and their lambdas called in batches of
 * up to `batchSize`: one update call then one publish call per transform per batch; registers
 * still change in source order, so each document sees the register as its predecessors left it.
 * A failure of a document throws a DERIVATION_FAILED error naming the transform, the document's
 * journal and offset, and the cause (a source line that is not JSON: the reader's
 * INVALID_CONTENT; a combined document that is invalid: the router's code); the driver then
 * stops without committing the transaction.
 */
export class DerivationApp implements Application {
  private buffer: Pending[] = [];
  /** The last batch started through the lambdas (`flush`), and those not yet done, oldest first. */
  private tail: Promise<void> = Promise.resolve();
  private readonly inflight: Promise<void>[] = [];
  /** The last batch's first half (`register`), and whether a first half failed (no later one runs). */
  private registering: Promise<void> = Promise.resolve();
  private registerFailed = false;
  /** Batches flushed and not through their first half, oldest (the one in it) first. */
  private readonly queued: Batch[] = [];
  /** The first failure of a batch: every later batch and the transaction fail with it. */
  private failed: unknown;
  /** Failures of calls that never ran, with the error that stopped the worker; and what each such error became. */
  private readonly notRun = new WeakMap<InletError, LambdaError>();
  private readonly chargedTo = new WeakMap<LambdaError, unknown>();
  private readonly transforms = new Map<string, Transform[]>();
  private readonly registerSchema: CollectionSchema;
  /**
   * True when no transform has an update lambda and the store holds no register: every register
   * is and stays `initial`, so it is not looked up per document.
   */
  private readonly registersFixed: boolean;
  /** Where the publish lambdas' documents are published, when not here (see LambdaOutput). */
  private readonly output: LambdaOutput | undefined;
  readonly counters: DerivationCounters = { read: 0, published: 0 };
  /** Counts of the open transaction, then of those waiting for their commit, oldest first. */
  private open: DerivationCounters = { read: 0, published: 0 };
  private readonly committing: DerivationCounters[] = [];

  constructor(
    private readonly name: string,
    private readonly collections: ReadonlyMap<string, Collection>,
    private readonly store: RegisterStore,
    private readonly lambdas: Lambdas,
    private readonly batchSize = 1000,
  ) {
    const spec = collections.get(name)?.spec.derivation;
    if (!spec) throw new InletError('INTERNAL', `${name} is not a derivation`);
    store.onCommitted = () => {
      const c = this.committing.shift();
      if (c) {
        this.counters.read += c.read;
        this.counters.published += c.published;
      }
    };
    this.registerSchema = CollectionSchema.compile(spec.register.schema);
    for (const t of spec.transforms) {
      const source = collections.get(t.reads.name)!.spec;
      const list = this.transforms.get(t.reads.name) ?? [];
      list.push({ spec: t, source });
      this.transforms.set(t.reads.name, list);
    }
    this.registersFixed = spec.transforms.every((t) => !t.update) && store.empty();
    this.output = lambdas.output;
  }

  /** The collections the derivation reads. */
  get sources(): string[] {
    return [...this.transforms.keys()];
  }

  consume(d: SequencedDocument, collection: string, txn: Transaction): Promise<void> | undefined {
    if (this.failed !== undefined) return this.rejectWithFailure();
    this.open.read++;
    for (const transform of this.transforms.get(collection) ?? []) {
      // Without a partition filter, the document is not decoded here.
      const selector = transform.spec.reads.partitions;
      if (!selector || inPartitions(d.doc, transform.source, selector)) this.buffer.push({ d, transform });
    }
    if (this.buffer.length >= this.batchSize) {
      this.flush(txn);
      // Bounded: reading runs at most this far ahead of the lambdas.
      if (this.inflight.length > MAX_INFLIGHT) return this.inflight[0];
    }
    return undefined;
  }

  /**
   * Resolves once every register change of the transaction is staged in the store (the driver
   * then takes them for its commit), with the rest of its publishing under way: the last
   * batches' publish lambdas and, with `output`, the documents published in the worker.
   */
  async finalize(txn: Transaction): Promise<Finalized> {
    this.flush(txn);
    await this.registering;
    // Asked for now, behind this transaction's publish calls and before any of the next one's.
    const drained = this.output?.drain();
    drained?.catch(() => undefined);
    const tail = this.tail;
    // The driver commits the store next, and transactions commit in order.
    this.committing.push(this.open);
    this.open = { read: 0, published: 0 };
    const publishing = (async () => {
      await tail;
      if (this.failed !== undefined) return this.rejectWithFailure();
      if (!drained) return;
      let parts;
      try {
        parts = await drained;
      } catch (err) {
        const code = err instanceof LambdaError && err.publishing ? (err.publishing as ErrorCode) : 'DERIVATION_FAILED';
        const failure = new InletError(code, `derivation ${this.name}, publishing a transaction: ${(err as Error).message}`, { cause: err });
        if (err instanceof LambdaError) this.charged(err, failure);
        this.failed ??= failure;
        return this.rejectWithFailure();
      }
      for (const part of parts) txn.publishEncoded(part);
    })();
    return { publishing };
  }

  /**
   * Starts the buffered batch through its lambdas behind the batches before it, and returns:
   * meanwhile the driver reads and decodes the next documents. Lambda calls stay one at a time,
   * in source order (a call's timeout counts its own run alone, and a failure names its own
   * document), and so do register changes and the transaction's published documents.
   * A batch goes through two halves, each in batch order: `register` (updates reduced into
   * registers, publish lambdas called) and `publishAll` (their documents published). A batch's
   * first half runs as soon as the one before has called its publish lambdas, not once it has
   * published: the worker runs one batch's publish lambdas while the next batch's registers are
   * reduced and its publish lambdas queued behind, so neither thread waits for the other's
   * round trip. A batch's update lambdas, which depend on its sources alone, are called at once,
   * ahead of the publish lambdas of the batches before: when its first half comes, its updates
   * are there. The first failure stops every later batch (`failed`); a first half's failure is
   * taken up in batch order, by its second half. A call that never ran (the worker stopped
   * first, in a later batch's call) fails its batch too, yet the derivation's error names the
   * call that stopped the worker (`rejectWithFailure`).
   */
  private flush(txn: Transaction): void {
    const items = this.buffer;
    this.buffer = [];
    if (items.length === 0) return;
    const batch: Batch = { items, counts: this.open, byTransform: groupBy(items, (p) => p.transform.spec.name) };
    this.queued.push(batch);
    this.askUpdates(batch);
    const registered = this.registering.then(async () => {
      try {
        if (this.failed !== undefined || this.registerFailed) return undefined;
        return await this.register(batch);
      } catch (err) {
        this.registerFailed = true;
        throw err;
      } finally {
        this.queued.shift();
      }
    });
    registered.catch(() => undefined);
    this.registering = registered.then(
      () => undefined,
      () => undefined,
    );
    const step = this.tail.then(async () => {
      try {
        if (this.failed !== undefined) return;
        const calls = await registered;
        if (calls) await this.publishAll(batch, calls, txn);
      } catch (err) {
        this.failed ??= err;
      }
    });
    this.tail = step;
    this.inflight.push(step);
    void step.then(() => this.inflight.splice(this.inflight.indexOf(step), 1));
  }

  /** The update lambdas' results for every document of the batch, asked for once. */
  private askUpdates(batch: Batch): Promise<Map<Pending, unknown[]>> {
    if (!batch.updates) {
      batch.updates = this.updates(batch.byTransform);
      // Awaited by the batch's step, unless an earlier batch failed first.
      batch.updates.catch(() => undefined);
    }
    return batch.updates;
  }

  private async updates(byTransform: Map<string, Pending[]>): Promise<Map<Pending, unknown[]>> {
    const calls: [Pending[], Promise<unknown[][]>][] = [];
    for (const items of byTransform.values()) {
      const t = items[0]!.transform.spec;
      if (t.update) calls.push([items, this.call<never>(t, 'Update', items, batchArgs(items, !this.registersFixed))]);
    }
    for (const [, call] of calls) call.catch(() => undefined);
    const updates = new Map<Pending, unknown[]>();
    for (const [items, call] of calls) {
      const out = await call;
      items.forEach((p, i) => updates.set(p, out[i]!));
    }
    return updates;
  }

  /**
   * A batch's first half: reduces its updates into its registers in source order, and calls its
   * publish lambdas; returns those calls.
   */
  private async register(batch: Batch): Promise<Calls> {
    const spec = this.collections.get(this.name)!.spec.derivation!;
    const updates = await this.askUpdates(batch);
    const publishArgs = new Map<Pending, unknown[]>();
    // The batch's registers, read in one query and kept here as the batch changes them. From
    // here to the last `put`, nothing awaits: no commit can change the store in between.
    const keys = this.registersFixed ? [] : batch.items.map((p) => packKey(p.d.doc, p.transform.spec.shuffle));
    const registers = this.registersFixed ? new Map<string, unknown>() : this.store.getMany(keys);
    // Fixed registers: nothing to reduce, and every publish call gets `initial` (below).
    for (let i = 0; i < keys.length; i++) {
      const p = batch.items[i]!;
      const t = p.transform.spec;
      const key = keys[i]!;
      const stored = registers.get(key);
      const previous = stored === undefined ? spec.register.initial : stored;
      let register = previous;
      const ups = updates.get(p);
      if (ups && ups.length > 0) {
        register = cloneJson(previous);
        for (const u of ups) {
          const problem = this.registerSchema.validate(u);
          if (problem) throw this.failure(t, p, `a register update is invalid: ${problem}`);
          try {
            register = this.registerSchema.reduce(register, u, { full: true });
          } catch (err) {
            throw this.failure(t, p, `a register update does not reduce: ${(err as Error).message}`, err);
          }
        }
        this.store.put(key, register);
        registers.set(key, register);
      }
      if (t.publish) publishArgs.set(p, [register, previous]);
    }

    // Publishes, then the documents go out in source order.
    const calls: Calls = [];
    for (const items of batch.byTransform.values()) {
      const t = items[0]!.transform.spec;
      if (!t.publish) continue;
      // Fixed registers: every document gets `initial` twice, sent once.
      const after = this.registersFixed ? { shared: [spec.register.initial, spec.register.initial] } : { rest: items.map((p) => publishArgs.get(p)!) };
      const args = batchArgs(items, !this.registersFixed, after);
      calls.push([items, this.output ? this.call(t, 'Publish', items, () => this.output!.publish(t.name, args)) : this.call(t, 'Publish', items, args)]);
    }
    for (const [, call] of calls) call.catch(() => undefined);
    return calls;
  }

  /**
   * A batch's second half: publishes what its publish lambdas returned, in source order (or,
   * with `output`, counts what they published where they ran).
   */
  private async publishAll(batch: Batch, calls: Calls, txn: Transaction): Promise<void> {
    const published = new Map<Pending, unknown[]>();
    for (const [items, call] of calls) {
      const out = await call;
      if (out instanceof Int32Array) for (const n of out) batch.counts.published += n;
      else items.forEach((p, i) => published.set(p, out[i]!));
    }
    if (published.size === 0) return;
    // Fresh from the lambdas (cloned out of their worker, or decoded), a document the transaction
    // may keep as it is, unless the batch returned it more than once (a clone keeps such sharing).
    const times = new Map<unknown, number>();
    for (const docs of published.values()) for (const doc of docs) times.set(doc, (times.get(doc) ?? 0) + 1);
    for (const p of batch.items) {
      for (const doc of published.get(p) ?? []) {
        // The transaction validates it against the derived collection's schema, once.
        try {
          txn.publish(this.name, doc, { owned: times.get(doc) === 1 });
        } catch (err) {
          throw this.failure(p.transform.spec, p, `a published document ${this.cannot(err instanceof InletError ? err.code : undefined)}: ${(err as Error).message}`, err);
        }
        batch.counts.published++;
      }
    }
  }

  /** Calls a lambda over a batch (its arguments, or how to call it), naming the document a failure concerns. */
  private async call<R>(t: TransformSpec, kind: 'Update' | 'Publish', items: Pending[], how: BatchArgs | (() => Promise<R>)): Promise<R | unknown[][]> {
    try {
      return await (typeof how === 'function' ? how() : this.lambdas.call(t.name, kind, how));
    } catch (err) {
      const index = err instanceof LambdaError ? err.index : undefined;
      const p = items[index ?? 0]!;
      if (err instanceof LambdaError && err.notRun) {
        const failure = new InletError('DERIVATION_FAILED', `derivation ${this.name}, transform ${t.name}: ${err.message}`, { cause: err });
        this.notRun.set(failure, err.notRun);
        throw failure;
      }
      if (err instanceof LambdaError && err.invalidSource) {
        // As the reader says it of a line that is not JSON, had it decoded the line itself.
        throw new ReaderError('INVALID_CONTENT', `journal ${p.d.journal}: the line at offset ${p.d.begin} is not JSON: ${err.message}`, {
          details: { journal: p.d.journal, offset: p.d.begin },
        });
      }
      if (err instanceof LambdaError && err.publishing) {
        throw this.failure(t, p, `a published document ${this.cannot(err.publishing)}: ${err.message}`, err);
      }
      const stack = err instanceof LambdaError ? err.lambdaStack : undefined;
      const which = index === undefined && items.length > 1 ? ` (a batch of ${items.length} from)` : '';
      const failure = this.failure(t, p, `${t.name}${kind}${which}: ${(err as Error).message}${stack ? `\n${stack}` : ''}`, err);
      if (err instanceof LambdaError) this.charged(err, failure);
      throw failure;
    }
  }

  /** Records what a lambda error became, for the calls that did not run because of it. */
  private charged(err: LambdaError, failure: unknown): void {
    if (!this.chargedTo.has(err)) this.chargedTo.set(err, failure);
  }

  /**
   * Rejects with the derivation's failure: the first one met, or, when that was a call that
   * never ran, the failure of the call that stopped the worker. Every rejection the worker's end
   * caused is taken up first (one turn of the event loop).
   */
  private async rejectWithFailure(): Promise<never> {
    await new Promise((resolve) => setImmediate(resolve));
    const first = this.failed;
    const dead = first instanceof InletError ? this.notRun.get(first) : undefined;
    throw (dead && this.chargedTo.get(dead)) ?? first;
  }

  /** Why a document could not be published (by the code of the error met), as failures say it. */
  private cannot(code: string | undefined): string {
    return code === 'INVALID_DOCUMENT' ? `is invalid against the schema of ${this.name}` : 'cannot be published';
  }

  private failure(t: TransformSpec, p: Pending, why: string, cause?: unknown): InletError {
    return new InletError('DERIVATION_FAILED', `derivation ${this.name}, transform ${t.name} (${t.source}), document ${p.d.journal}@${p.d.begin}: ${why}`, {
      ...(cause === undefined ? {} : { cause }),
      details: { derivation: this.name, transform: t.name, journal: p.d.journal, offset: p.d.begin },
    });
  }
}

/**
 * The arguments of a batch's lambda calls: its source documents, then what comes `after` them.
 * Sources go as the lines they were read from when they all have one and this thread has not
 * `decoded` them (for their shuffle keys): the lambdas' side decodes them, rather than this
 * thread decoding them and the worker's message copying them.
 */
function batchArgs(items: Pending[], decoded: boolean, after: Pick<BatchArgs, 'rest' | 'shared'> = {}): BatchArgs {
  const count = items.length;
  if (!decoded && items.every((p) => p.d.line !== undefined)) {
    return { count, sources: [], sourceText: `${items.map((p) => p.d.line).join('\n')}\n`, ...after };
  }
  return { count, sources: items.map((p) => p.d.doc), ...after };
}

/** A batch's publish calls per transform: the documents returned, or (LambdaOutput) how many. */
type Calls = [Pending[], Promise<unknown[][] | Int32Array>][];

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const list = out.get(key(item));
    if (list) list.push(item);
    else out.set(key(item), [item]);
  }
  return out;
}
