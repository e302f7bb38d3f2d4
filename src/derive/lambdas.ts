import { Worker } from 'node:worker_threads';
import { request } from 'undici';
import { InletError } from '../errors.js';

/**
 * How a derivation calls its lambdas: in batches. Each call takes the argument lists of a run
 * of documents (`[source]` for update, `[source, register, previous]` for publish) and returns,
 * per document, the array of values the lambda returned, values the caller owns (they share
 * nothing with the arguments, each other or anything else: cloned or decoded from JSON). A
 * failure is a `LambdaError` that says which document of the batch (index) it concerns, when known.
 */
export interface Lambdas {
  call(transform: string, kind: 'Update' | 'Publish', args: unknown[][]): Promise<unknown[][]>;
  close(): Promise<void>;
}

/** A lambda's failure: the message (with the lambda's stack) and the batch index of the document. */
export class LambdaError extends Error {
  constructor(
    message: string,
    readonly index: number | undefined,
    readonly lambdaStack?: string,
  ) {
    super(message);
  }
}

/** What the lambda worker runs: loads the bundle, instantiates the class, calls methods per batch. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, className, progress } = workerData;
// Stacks name the catalog's .flow.ts lines (the bundle's source map), not the bundle's.
process.setSourceMapsEnabled(true);
const own = (stack) => stack && String(stack).split('\\n').filter((l) => !l.includes('[worker eval]')).join('\\n');
const at = new Int32Array(progress);
let instance;
const ready = import(module).then((m) => {
  const C = m[className];
  if (typeof C !== 'function') throw new Error('the module exports no class ' + className);
  instance = new C();
});
parentPort.on('message', async ({ id, method, args }) => {
  try {
    await ready;
  } catch (err) {
    parentPort.postMessage({ id, error: { message: String(err && err.message || err), stack: own(err && err.stack) } });
    return;
  }
  const fn = instance[method];
  if (typeof fn !== 'function') {
    parentPort.postMessage({ id, error: { message: 'class ' + className + ' has no method ' + method } });
    return;
  }
  const results = new Array(args.length);
  for (let i = 0; i < args.length; i++) {
    Atomics.store(at, 0, i);
    let r;
    try {
      r = await fn.apply(instance, args[i]);
    } catch (err) {
      parentPort.postMessage({ id, error: { index: i, message: String(err && err.message || err), stack: own(err && err.stack) } });
      return;
    }
    if (r === undefined || r === null) r = [];
    if (!Array.isArray(r)) {
      parentPort.postMessage({ id, error: { index: i, message: method + ' returned ' + typeof r + ', not an array' } });
      return;
    }
    results[i] = r;
  }
  parentPort.postMessage({ id, results });
});
`;

interface Call {
  id: number;
  method: string;
  args: unknown[][];
  resolve: (r: unknown[][]) => void;
  reject: (e: Error) => void;
}

/**
 * The TypeScript lambdas of one derivation, in a worker thread of their own (off the event
 * loop; a lambda that loops forever is ended by terminating its worker). `module` is the path
 * of the ESM bundle exporting `className`. Calls run one at a time in the order they were made:
 * a caller may make the next before the last has answered, and the worker takes it up as soon
 * as it is done with the last. A call that runs past `timeoutMs` (counted from when the worker
 * takes it up) terminates the worker and fails naming the document it was at; the worker is
 * then unusable, and the calls waiting behind it fail with the same error.
 */
export class WorkerLambdas implements Lambdas {
  private readonly worker: Worker;
  private readonly progress = new SharedArrayBuffer(4);
  /** The call the worker runs, and those waiting for it, in order. */
  private readonly queue: Call[] = [];
  private timer: NodeJS.Timeout | undefined;
  private nextId = 0;
  private dead: Error | undefined;

  constructor(module: string, className: string, private readonly timeoutMs: number) {
    const url = module.startsWith('file:') ? module : new URL(`file://${module}`).href;
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module: url, className, progress: this.progress }, execArgv: [] });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; results?: unknown[][]; error?: { message: string; stack?: string; index?: number } }) => {
      const call = this.queue[0];
      if (!call || call.id !== m.id) return;
      clearTimeout(this.timer);
      this.queue.shift();
      // The next call first: the worker runs it while this one's results are taken up.
      this.start();
      if (m.error) call.reject(new LambdaError(m.error.message, m.error.index, m.error.stack));
      else call.resolve(m.results!);
    });
    this.worker.on('error', (err) => this.fail(new LambdaError(`the lambda worker failed: ${err.message}`, undefined, err.stack)));
    this.worker.on('exit', (code) => this.fail(new LambdaError(`the lambda worker exited (${code})`, undefined)));
  }

  call(transform: string, kind: 'Update' | 'Publish', args: unknown[][]): Promise<unknown[][]> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, method: `${transform}${kind}`, args, resolve, reject });
      if (this.queue.length === 1) this.start();
    });
  }

  /** Hands the first waiting call to the worker, and arms its timeout. */
  private start(): void {
    const call = this.queue[0];
    if (!call || this.dead) return;
    this.timer = setTimeout(() => {
      const index = Atomics.load(new Int32Array(this.progress), 0);
      this.fail(new LambdaError(`${call.method} ran past its timeout of ${this.timeoutMs} ms`, index));
      void this.worker.terminate();
    }, this.timeoutMs);
    this.worker.postMessage({ id: call.id, method: call.method, args: call.args });
  }

  /** Fails the call under way with `err` and, with the first error the worker met, every call waiting. */
  private fail(err: Error): void {
    clearTimeout(this.timer);
    this.dead ??= err;
    const [current, ...waiting] = this.queue.splice(0);
    current?.reject(err);
    for (const c of waiting) c.reject(this.dead);
  }

  async close(): Promise<void> {
    this.dead ??= new LambdaError('the lambdas are closed', undefined);
    await this.worker.terminate();
  }
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

  async call(transform: string, kind: 'Update' | 'Publish', args: unknown[][]): Promise<unknown[][]> {
    const url = this.urls[`${transform}${kind}`];
    if (!url) throw new InletError('INTERNAL', `no remote lambda for ${transform}${kind}`);
    let status: number;
    let text: string;
    try {
      const res = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(args),
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
