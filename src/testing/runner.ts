import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../broker/config.js';
import { startBroker } from '../broker/daemon.js';
import type { Catalog, PartitionSelector, TestSpec, TestStep } from '../catalog/types.js';
import { Agent } from 'undici';
import { BrokerClient } from '../client/broker-client.js';
import type { JournalWriter } from '../client/journal-writer.js';
import { compileCatalog, type Collection } from '../collections/collection.js';
import { Ingester } from '../collections/ingest.js';
import { readCollection } from '../collections/reader.js';
import { Combiner } from '../doc/combine.js';
import { inPartitions } from '../collections/partitions.js';
import { diffDocuments } from './verify.js';

/** What a test run needs of the derivation engine (DerivationRuntime of src/derive/runtime.ts). */
export interface TestRuntime {
  /** Resolves once every derivation has committed everything its sources held when called. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the derivations of `catalog` against a broker; see DerivationRuntime.start. */
export type StartRuntime = (opts: { catalog: Catalog; client: BrokerClient; writer: JournalWriter; module?: string; dataDir: string }) => Promise<TestRuntime>;

/** The outcome of one test: passed, or the step (0-based) that failed and why, in lines. */
export type TestResult = { test: TestSpec; passed: true; ms: number } | { test: TestSpec; passed: false; ms: number; step: number; why: string[] };

/**
 * Runs catalog tests as Flow does, each from nothing: a broker of its own on a temporary data
 * dir (in this process, on a free loopback port), fresh derivation state, all removed after.
 * `ingest` is one transaction into its collection, as `/ingest` makes it. `verify` waits until
 * the derivations have processed everything ingested (`settled()`, no sleeps), reads the
 * collection's committed documents (the test's own: its broker is new), keeps those of the
 * step's partitions, combines them by key with the schema's reductions, and compares them in
 * key order with the expected documents (see diffDocuments). A step that throws (a lambda's
 * error, a document the schema refuses) fails the test with its message.
 */
export async function runTest(catalog: Catalog, test: TestSpec, opts: { module?: string; startRuntime?: StartRuntime; collections?: ReadonlyMap<string, Collection> }): Promise<TestResult> {
  const began = Date.now();
  const collections = opts.collections ?? compileCatalog(catalog);
  const dir = await mkdtemp(join(tmpdir(), 'inlet-test-run-'));
  const log = pino({ level: 'silent' });
  const stack: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
  let step = 0;
  try {
    const config = loadConfig({ dataDir: join(dir, 'broker'), port: 0, host: '127.0.0.1', logLevel: 'silent' }, {});
    const broker = await startBroker(config, log);
    stack.push(() => broker.stop());
    const ingester = await Ingester.open(join(dir, 'ingest'), collections, broker.broker.writer, log);
    stack.push(() => ingester.close());
    // The runtime's own connections, closed before the broker stops (it waits for open ones).
    const agent = new Agent();
    stack.push(() => agent.close());
    const client = new BrokerClient(broker.url, { dispatcher: agent });
    const hasDerivations = [...catalog.collections.values()].some((c) => c.derivation);
    let runtime: TestRuntime | undefined;
    if (hasDerivations) {
      if (!opts.startRuntime) throw new Error('this catalog has derivations, and no derivation runtime was given');
      runtime = await opts.startRuntime({ catalog, client, writer: client.batching().asWriter(), ...(opts.module ? { module: opts.module } : {}), dataDir: join(dir, 'derivations') });
      stack.push(() => runtime!.stop());
    }
    for (; step < test.steps.length; step++) {
      const s = test.steps[step]!;
      if ('ingest' in s) {
        await ingester.ingest({ [s.ingest.collection]: s.ingest.documents });
        continue;
      }
      await runtime?.settled();
      const actual = await committed(client, collections.get(s.verify.collection)!, s.verify.partitions);
      const why = diffDocuments(s.verify.documents, actual);
      if (why.length > 0) return { test, passed: false, ms: Date.now() - began, step, why };
    }
    return { test, passed: true, ms: Date.now() - began };
  } catch (err) {
    return { test, passed: false, ms: Date.now() - began, step, why: [(err as Error)?.message ?? String(err)] };
  } finally {
    for (const undo of stack.reverse()) await undo().catch(() => undefined);
  }
}

/** A collection's committed documents in `partitions`, combined by key, in key order, without `_meta`. */
async function committed(client: BrokerClient, c: Collection, partitions: PartitionSelector | undefined): Promise<unknown[]> {
  const combiner = new Combiner(c.schema, c.spec.key);
  for await (const { doc } of readCollection(client, c.spec.name)) {
    if (!inPartitions(doc, c.spec, partitions)) continue;
    combiner.add(withoutMeta(doc));
  }
  return combiner.drain();
}

function withoutMeta(doc: unknown): unknown {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return doc;
  const copy = { ...(doc as Record<string, unknown>) };
  delete copy._meta;
  return copy;
}


/** Which tests `filter` (a regular expression over test names) selects; all without one. */
export function selectTests(tests: readonly TestSpec[], filter?: string): TestSpec[] {
  if (filter === undefined) return [...tests];
  const re = new RegExp(filter);
  return tests.filter((t) => re.test(t.name));
}

/** Flow's report of a run: a line per test (and its failure), then the totals. */
export function formatResults(results: readonly TestResult[]): string {
  const out: string[] = [];
  for (const r of results) {
    const title = `${r.test.file} :: ${r.test.name}`;
    if (r.passed) out.push(`✔️ ${title}`);
    else {
      const step = r.test.steps[r.step];
      out.push(`❌ ${title} failure at step ${r.step + 1}${step ? ` (${stepKind(step)}, ${step.source})` : ''}:`, ...r.why.map((w) => `   ${w.split('\n').join('\n   ')}`));
    }
  }
  const failed = results.filter((r) => !r.passed).length;
  out.push('', `Ran ${results.length} tests, ${results.length - failed} passed, ${failed} failed`);
  return out.join('\n') + '\n';
}

function stepKind(s: TestStep): string {
  return 'ingest' in s ? `ingest ${s.ingest.collection}` : `verify ${s.verify.collection}`;
}
