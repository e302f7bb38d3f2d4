import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { request } from 'undici';
import type { CollectionSpec } from '../catalog/types.js';
import type { EncodedPart } from '../collections/route.js';
import { InletError } from '../errors.js';
import { argsAt, SourceLines, type BatchArgs } from './batch-args.js';
import type { WorkerData, WorkerReply, WorkerRequest } from './lambda-worker.js';

export type { BatchArgs } from './batch-args.js';

/**
 * How a derivation calls its lambdas: in batches. Each call takes the argument lists of a run
 * of documents (`[source]` for update, `[source, register, previous]` for publish) and returns,
 * per document, the array of values the lambda returned, values the caller owns (they share
 * nothing with the arguments, each other or anything else: cloned or decoded from JSON). A
 * failure is a `LambdaError` that says which document of the batch (index) it concerns, when known.
 */
export interface Lambdas {
  call(transform: string, kind: 'Update' | 'Publish', args: BatchArgs): Promise<unknown[][]>;
  /** Set when the publish lambdas' documents are published where the lambdas run (see LambdaOutput). */
  readonly output?: LambdaOutput | undefined;
  close(): Promise<void>;
}

/**
 * Publish lambdas whose documents stay where they ran: each is validated against the derived
 * collection's schema and combined there into the open transaction, and `drain` ends the
 * transaction with its documents encoded for `Transaction.publishEncoded`. A document that
 * cannot be published fails the call with a LambdaError whose `publishing` is the error's code.
 */
export interface LambdaOutput {
  /** Calls a transform's publish lambda per argument list; resolves with how many documents each returned. */
  publish(transform: string, args: BatchArgs): Promise<Int32Array>;
  /** The open transaction's documents, combined and encoded per partition journal; opens the next. */
  drain(): Promise<EncodedPart[]>;
}


/** A lambda's failure: the message (with the lambda's stack) and the batch index of the document. */
export class LambdaError extends Error {
  /** The lambda's stack, when it threw. */
  readonly lambdaStack: string | undefined;
  /** The code of the error met publishing a document the lambda returned (LambdaOutput), if that was it. */
  readonly publishing: string | undefined;
  /** True when it was the source document's text (BatchArgs.sourceText) that is not JSON: the message is JSON.parse's. */
  readonly invalidSource: boolean;
  /**
   * Set when the call never ran: the worker stopped first, with this error, which the call it
   * was running (or the close) got. That call's documents are the ones to name.
   */
  readonly notRun: LambdaError | undefined;

  constructor(
    message: string,
    readonly index: number | undefined,
    more: { lambdaStack?: string | undefined; publishing?: string | undefined; invalidSource?: boolean; notRun?: LambdaError } = {},
  ) {
    super(message);
    this.lambdaStack = more.lambdaStack;
    this.publishing = more.publishing;
    this.invalidSource = more.invalidSource === true;
    this.notRun = more.notRun;
  }
}

interface Call {
  request: WorkerRequest;
  /** What the request is called in errors (a method, or the transaction's end). */
  what: string;
  resolve: (r: WorkerReply) => void;
  reject: (e: Error) => void;
}

/** The worker's entry: compiled beside this file, or its TypeScript source when inlet itself runs from source (under tsx). */
const WORKER_ENTRY = new URL(`./lambda-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * The TypeScript lambdas of one derivation, in a worker thread of their own (off the event
 * loop; a lambda that loops forever is ended by terminating its worker; lambda-worker.ts).
 * `module` is the path of the ESM bundle exporting `className`. Calls run one at a time in the
 * order they were made: a caller may make the next before the last has answered, and the worker
 * takes it up as soon as it is done with the last. A call that runs past `timeoutMs` (counted
 * from when the worker takes it up) terminates the worker and fails naming the document it was
 * at; the worker is then unusable, and the calls waiting behind it fail with the same error.
 * Given `derived` (the derivation's collection), `output` publishes in the worker.
 */
export class WorkerLambdas implements Lambdas {
  private readonly worker: Worker;
  private readonly progress = new SharedArrayBuffer(4);
  /** The call the worker runs, and those waiting for it, in order. */
  private readonly queue: Call[] = [];
  private timer: NodeJS.Timeout | undefined;
  private nextId = 0;
  private dead: LambdaError | undefined;
  /** Whether the worker has loaded its own modules: calls are timed from then on. */
  private booted = false;
  readonly output: LambdaOutput | undefined;

  constructor(module: string, className: string, private readonly timeoutMs: number, derived?: CollectionSpec) {
    const url = module.startsWith('file:') ? module : pathToFileURL(module).href;
    const workerData: WorkerData = { module: url, className, progress: this.progress, ...(derived ? { derived } : {}) };
    this.worker = WORKER_ENTRY.pathname.endsWith('.ts')
      ? new Worker(`import(${JSON.stringify(TSX_API)}).then((t) => { t.register(); return import(${JSON.stringify(WORKER_ENTRY.href)}); });`, {
          eval: true,
          workerData,
          execArgv: [],
        })
      : new Worker(WORKER_ENTRY, { workerData, execArgv: [] });
    this.worker.unref();
    this.worker.on('message', (m: WorkerReply) => {
      if ('booted' in m) {
        this.booted = true;
        this.arm();
        return;
      }
      const call = this.queue[0];
      if (!call || call.request.id !== m.id) return;
      clearTimeout(this.timer);
      this.queue.shift();
      // The next call first: the worker runs it while this one's results are taken up.
      this.start();
      if ('error' in m) {
        const { message, index, stack, publishing, invalidSource } = m.error;
        call.reject(new LambdaError(message, index, { lambdaStack: stack, publishing, invalidSource: invalidSource === true }));
      }
      else call.resolve(m);
    });
    this.worker.on('error', (err) => this.fail(new LambdaError(`the lambda worker failed: ${err.message}`, undefined, { lambdaStack: err.stack })));
    this.worker.on('exit', (code) => this.fail(new LambdaError(`the lambda worker exited (${code})`, undefined)));
    this.output = derived
      ? {
          publish: async (transform, args) =>
            ((await this.send({ id: this.nextId++, method: `${transform}Publish`, args, publish: true }, `${transform}Publish`)) as { counts: Int32Array }).counts,
          drain: async () => ((await this.send({ id: this.nextId++, drain: true }, 'publishing the transaction')) as { parts: EncodedPart[] }).parts,
        }
      : undefined;
  }

  async call(transform: string, kind: 'Update' | 'Publish', args: BatchArgs): Promise<unknown[][]> {
    const method = `${transform}${kind}`;
    return ((await this.send({ id: this.nextId++, method, args }, method)) as { results: unknown[][] }).results;
  }

  private send(request: WorkerRequest, what: string): Promise<WorkerReply> {
    if (this.dead) return Promise.reject(new LambdaError(`the lambda worker stopped before ${what} ran: ${this.dead.message}`, undefined, { notRun: this.dead }));
    return new Promise((resolve, reject) => {
      this.queue.push({ request, what, resolve, reject });
      if (this.queue.length === 1) this.start();
    });
  }

  /** Hands the first waiting call to the worker, and arms its timeout. */
  private start(): void {
    const call = this.queue[0];
    if (!call || this.dead) return;
    this.worker.postMessage(call.request);
    this.arm();
  }

  /** Times the call under way, once the worker has booted. */
  private arm(): void {
    const call = this.queue[0];
    if (!call || this.dead || !this.booted) return;
    this.timer = setTimeout(() => {
      const index = 'drain' in call.request ? undefined : Atomics.load(new Int32Array(this.progress), 0);
      this.fail(new LambdaError(`${call.what} ran past its timeout of ${this.timeoutMs} ms`, index));
      void this.worker.terminate();
    }, this.timeoutMs);
  }

  /**
   * Fails the call under way with `err` and every call waiting as not run (`LambdaError.notRun`:
   * the first error the worker met, which names the call it was in).
   */
  private fail(err: LambdaError): void {
    clearTimeout(this.timer);
    this.dead ??= err;
    const dead = this.dead;
    const [current, ...waiting] = this.queue.splice(0);
    current?.reject(err);
    for (const c of waiting) c.reject(new LambdaError(`the lambda worker stopped before ${c.what} ran: ${dead.message}`, undefined, { notRun: dead }));
  }

  async close(): Promise<void> {
    this.dead ??= new LambdaError('the lambdas are closed', undefined);
    await this.worker.terminate();
  }
}

/** tsx's loader, for a worker running inlet's TypeScript sources (tests); resolved only then. */
const TSX_API = WORKER_ENTRY.pathname.endsWith('.ts') ? import.meta.resolve('tsx/esm/api') : '';

/** The argument lists of a batch, their source texts decoded (BatchArgs.sourceText); a text that is not JSON fails naming its index. */
function argLists(args: BatchArgs): unknown[][] {
  const lines = args.sourceText === undefined ? undefined : new SourceLines(args.sourceText);
  return Array.from({ length: args.count }, (_, i) => {
    if (!lines) return argsAt(args, i);
    try {
      return argsAt(args, i, JSON.parse(lines.next()));
    } catch (err) {
      throw new LambdaError((err as Error).message, i, { invalidSource: true });
    }
  });
}

/**
 * Remote lambdas: each batch is one HTTP POST of the JSON array of argument lists to the
 * lambda's URL, answered with a JSON array holding, per document, the array of values returned
 * (Flow's remote lambda calls, batched). A non-2xx answer or a wrong shape fails the batch.
 */
export class RemoteLambdas implements Lambdas {
  constructor(
    private readonly urls: Record<string, string>,
    private readonly timeoutMs: number,
  ) {}

  async call(transform: string, kind: 'Update' | 'Publish', batch: BatchArgs): Promise<unknown[][]> {
    const url = this.urls[`${transform}${kind}`];
    const args = argLists(batch);
    if (!url) throw new InletError('INTERNAL', `no remote lambda for ${transform}${kind}`);
    const body = JSON.stringify(args);
    let status: number;
    let text: string;
    try {
      const res = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw new LambdaError(`remote lambda ${url}: ${(err as Error).message}`, undefined);
    }
    if (status < 200 || status > 299) throw new LambdaError(`remote lambda ${url}: HTTP ${status} ${text.slice(0, 200)}`, undefined);
    let out: unknown;
    try {
      out = JSON.parse(text);
    } catch {
      throw new LambdaError(`remote lambda ${url}: the answer is not JSON`, undefined);
    }
    if (!Array.isArray(out) || out.length !== args.length) {
      throw new LambdaError(`remote lambda ${url}: the answer must be an array of ${args.length} arrays`, undefined);
    }
    return out.map((r, i) => {
      if (r === null) return [];
      if (!Array.isArray(r)) throw new LambdaError(`remote lambda ${url}: answer ${i} is not an array`, i);
      return r as unknown[];
    });
  }

  async close(): Promise<void> {}
}
