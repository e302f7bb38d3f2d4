/**
 * The worker thread of a derivation's TypeScript lambdas (see WorkerLambdas): loads the
 * catalog's module, instantiates its class, and calls a method over a batch of argument lists
 * per message, one message at a time.
 *
 * When the derivation's documents are published here (`workerData.derived`), a publish call
 * keeps what its lambda returns: each document is validated and combined into the transaction
 * here, and the call answers how many each lambda call returned. A `drain` message ends the
 * transaction: its documents, combined, routed and encoded (`encodeLines`), go to the caller,
 * so that the thread that publishes neither clones, validates, combines nor encodes them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { CollectionSpec } from '../catalog/types.js';
import { encodeLines } from '../collections/publisher.js';
import { Router, type EncodedPart } from '../collections/route.js';
import { callAt, SourceLines, type BatchArgs } from './batch-args.js';
import { CollectionSchema } from '../doc/schema.js';
import { InletError } from '../errors.js';

export interface WorkerData {
  /** URL of the ESM bundle of the catalog's module, and the class it exports. */
  module: string;
  className: string;
  /** One Int32: the batch index of the document being called, for a timeout's message. */
  progress: SharedArrayBuffer;
  /** The derived collection, when its documents are published here. */
  derived?: CollectionSpec;
}

/** A call: a method over a batch (`publish`: keep the documents, answer counts), or the transaction's end. */
export type WorkerRequest = { id: number; method: string; args: BatchArgs; publish?: boolean } | { id: number; drain: true };

export interface WorkerFailure {
  message: string;
  stack?: string;
  /** The batch index of the document concerned. */
  index?: number;
  /** Set when a document the lambda returned could not be published: the error's code (INVALID_DOCUMENT, REDUCE_FAILED…). */
  publishing?: string;
  /** Set when the source document's text (`sourceText`) is not JSON. */
  invalidSource?: boolean;
}

export type WorkerReply =
  | { booted: true }
  | { id: number; results: unknown[][] }
  | { id: number; counts: Int32Array }
  | { id: number; parts: EncodedPart[] }
  | { id: number; error: WorkerFailure };

const { module, className, progress, derived } = workerData as WorkerData;
const port = parentPort!;
// Stacks name the catalog's .flow.ts lines (the bundle's source map), not the bundle's.
process.setSourceMapsEnabled(true);
const self = fileURLToPath(import.meta.url);
const own = (stack: unknown) =>
  stack === undefined
    ? undefined
    : String(stack)
        .split('\n')
        .filter((l) => !l.includes(self))
        .join('\n');
const at = new Int32Array(progress);
const collections = derived ? new Map([[derived.name, { spec: derived, schema: CollectionSchema.compile(derived.schema) }]]) : undefined;
/** The open transaction's documents; a new one after a failure (a router that failed is discarded). */
let router = collections ? new Router(collections) : undefined;
/** Documents published into the open transaction, which names them in errors (`<collection>[n]`). */
let published = 0;

type Lambda = (...args: unknown[]) => unknown;
const ready = import(module).then((m: Record<string, unknown>) => {
  const C = m[className];
  if (typeof C !== 'function') throw new Error(`the module exports no class ${className}`);
  return new (C as new () => Record<string, unknown>)();
});
ready.catch(() => undefined);

port.on('message', (req: WorkerRequest) => void handle(req));
// Calls are timed from here: loading inlet's own modules is not the lambdas' time.
port.postMessage({ booted: true } satisfies WorkerReply);

async function handle(req: WorkerRequest): Promise<void> {
  const { id } = req;
  if ('drain' in req) {
    let parts: EncodedPart[];
    try {
      parts = drain();
    } catch (err) {
      router = new Router(collections!);
      fail(id, { message: (err as Error).message, publishing: err instanceof InletError ? err.code : 'INTERNAL' });
      return;
    }
    port.postMessage({ id, parts } satisfies WorkerReply, parts.flatMap((p) => [p.body.buffer as ArrayBuffer, p.ends.buffer as ArrayBuffer]));
    return;
  }
  let instance: Record<string, unknown>;
  try {
    instance = await ready;
  } catch (err) {
    fail(id, { message: String((err as Error)?.message ?? err), ...opt('stack', own((err as Error)?.stack)) });
    return;
  }
  const fn = instance[req.method];
  if (typeof fn !== 'function') {
    fail(id, { message: `class ${className} has no method ${req.method}` });
    return;
  }
  const { args } = req;
  const n = args.count;
  const results: unknown[][] = req.publish ? [] : new Array(n);
  const counts = req.publish ? new Int32Array(n) : undefined;
  const lines = args.sourceText === undefined ? undefined : new SourceLines(args.sourceText);
  for (let i = 0; i < n; i++) {
    Atomics.store(at, 0, i);
    let source = args.sources[i];
    if (lines) {
      try {
        source = JSON.parse(lines.next());
      } catch (err) {
        fail(id, { index: i, message: (err as Error).message, invalidSource: true });
        return;
      }
    }
    let r: unknown;
    try {
      r = callAt(fn as Lambda, instance, args, i, source);
      // Awaited only when it is a promise: an await per document costs a microtask turn each.
      if (isThenable(r)) r = await r;
    } catch (err) {
      fail(id, { index: i, message: String((err as Error)?.message ?? err), ...opt('stack', own((err as Error)?.stack)) });
      return;
    }
    if (r === undefined || r === null) r = [];
    if (!Array.isArray(r)) {
      fail(id, { index: i, message: `${req.method} returned ${typeof r}, not an array` });
      return;
    }
    if (!counts) {
      results[i] = r;
      continue;
    }
    for (let j = 0; j < r.length; j++) {
      const doc: unknown = r[j];
      try {
        // The source was decoded for this call alone: returned once, it may be held (and reduced into) as it is.
        router!.add(derived!.name, doc, published++, doc === source && r.indexOf(doc) === j && r.lastIndexOf(doc) === j);
      } catch (err) {
        router = new Router(collections!);
        published = 0;
        fail(id, { index: i, message: (err as Error).message, publishing: err instanceof InletError ? err.code : 'INTERNAL' });
        return;
      }
    }
    counts[i] = r.length;
  }
  port.postMessage(counts ? ({ id, counts } satisfies WorkerReply) : ({ id, results } satisfies WorkerReply));
}

/** The open transaction's documents, combined, routed and encoded; the next publish opens the next transaction. */
function drain(): EncodedPart[] {
  published = 0;
  if (!router) return [];
  const routed = router.drain();
  const parts: EncodedPart[] = [];
  for (const [journal, part] of routed.journals) {
    const lines = encodeLines(part.docs);
    parts.push({ collection: part.collection.spec.name, journal, values: part.values, ...lines });
  }
  return parts;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function fail(id: number, error: WorkerFailure): void {
  port.postMessage({ id, error } satisfies WorkerReply);
}

function opt<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}
