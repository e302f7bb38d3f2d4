/**
 * Workload D, derivations: (a) a pass-through derivation and (b) the chat example's userDetails
 * (numUnreadRooms, catalog/examples/chat) over N source documents already in the lake,
 * backfilled, then live; each next to a hand-written single-process loop over the same NDJSON
 * (parse, shuffle into a Map, reduce, publish to a file: the limit) and, for (b), next to
 * @electric-sql/d2ts (differential dataflow) computing the same numUnreadRooms.
 *
 * inlet runs in this process (DerivationRuntime: readers, lambdas in a worker thread, registers
 * in SQLite with a recovery log; history read straight from the lake, as under `inlet serve`) against
 * a broker in a child process serving a file:// lake.
 */
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { D2, filter, join as d2join, map, MessageType, MultiSet, output, reduce } from '@electric-sql/d2ts';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { Appender } from '../../src/client/appender.js';
import { BrokerClient } from '../../src/client/broker-client.js';
import { readCollection } from '../../src/collections/reader.js';
import { DerivationRuntime } from '../../src/derive/runtime.js';
import { buildModules } from '../../src/derive/typescript.js';
import { scratchDir, startInlet } from './processes.js';
import type { Row } from './report.js';
import { Latencies } from './stats.js';

export interface DeriveSizes {
  /** Source documents of the pass-through derivation. */
  passThrough: number;
  /** Source documents of the chat derivation: half room subscriptions, half messages, one room per pair (N/2 registers). */
  chat: number;
  /** Live documents, one at a time, for ack → derived committed latency. */
  live: number;
  /**
   * When set, a folder: each inlet backfill writes `<derived>.cpuprofile` there (this process's
   * main thread, from start to settled), and the log says how busy the broker was meanwhile.
   */
  profile?: string;
}

export const DERIVE_SIZES = { quick: { passThrough: 50_000, chat: 50_000, live: 100 }, full: { passThrough: 1_000_000, chat: 2_000_000, live: 300 } };

export const CHAT = fileURLToPath(new URL('../../../catalog/examples/chat/', import.meta.url));
const EVENT_SCHEMA = '{ type: object, required: [id, key, n], properties: { id: { type: integer }, key: { type: string }, n: { type: integer } } }';
const SOURCES = `
import: [chat/inputs.flow.yaml]
collections:
  acme/events: { key: [/id], schema: ${EVENT_SCHEMA} }
`;
const COPY = `
import: [sources.flow.yaml]
collections:
  acme/copy:
    key: [/id]
    schema: ${EVENT_SCHEMA}
    derivation:
      transform:
        fromEvents: { source: { name: acme/events }, publish: { lambda: typescript } }
`;
const COPY_MODULE = 'export class AcmeCopy { fromEventsPublish(s) { return [s]; } }\n';

const event = (i: number) => ({ id: i, key: `k${i % 1000}`, n: i % 100 });
const USERS = 1000;
/** The chat input: per room k, a subscription then a message, unread when the message is newer than what its subscriber saw. */
export function chatDoc(i: number): { collection: 'roomUsers' | 'messages'; doc: Record<string, unknown> } {
  const k = i >> 1;
  return i % 2 === 0
    ? { collection: 'roomUsers', doc: { roomId: `r${k}`, userId: `u${k % USERS}`, seenTimestamp: 1000 + (k % 10) } }
    : { collection: 'messages', doc: { id: `m${k}`, roomId: `r${k}`, senderId: `u${(k + 1) % USERS}`, timestamp: 1000 + ((k * 7) % 20), content: 'hello' } };
}

/** Runs workload D; returns its rows (inlet, the hand-written loop, d2ts) for the report. */
export async function deriveWorkload(sizes: DeriveSizes, log: (m: string) => void = console.error): Promise<Row[]> {
  const dir = await scratchDir('inlet-bench-derive-');
  const rows: Row[] = [];
  await cp(CHAT, join(dir.path, 'chat'), { recursive: true, filter: (p) => !p.includes('inlet_generated') });
  await writeFile(join(dir.path, 'sources.flow.yaml'), SOURCES);
  await writeFile(join(dir.path, 'copy.flow.yaml'), COPY);
  await writeFile(join(dir.path, 'copy.mjs'), COPY_MODULE);
  const lake = `file://${join(dir.path, 'lake')}/`;
  const broker = await startInlet(join(dir.path, 'data'), ['--catalog', join(dir.path, 'sources.flow.yaml'), '--store', lake]);
  const client = new BrokerClient(broker.url);
  try {
    log(`bench D: ingesting ${sizes.passThrough} events and ${sizes.chat} chat documents…`);
    const events: string[] = [];
    for (let at = 0; at < sizes.passThrough; at += 5000) {
      const docs = Array.from({ length: Math.min(5000, sizes.passThrough - at) }, (_, i) => event(at + i));
      for (const d of docs) events.push(JSON.stringify(d));
      await client.ingest({ 'acme/events': docs });
    }
    const chat: string[] = [];
    for (let at = 0; at < sizes.chat; at += 5000) {
      const batch: Record<string, unknown[]> = { roomUsers: [], messages: [] };
      for (let i = at; i < Math.min(at + 5000, sizes.chat); i++) {
        const { collection, doc } = chatDoc(i);
        batch[collection]!.push(doc);
        chat.push(JSON.stringify(doc));
      }
      await client.ingest(batch);
    }
    await client.flushFragments({ selector: 'inlet.dev/collection' }).catch(() => undefined);
    const eventBytes = events.reduce((n, l) => n + l.length + 1, 0);
    const chatBytes = chat.reduce((n, l) => n + l.length + 1, 0);

    // (a) pass-through.
    // The loops and d2ts read the same documents as NDJSON files (in the page cache), as inlet reads its lake.
    await writeFile(join(dir.path, 'events-in.ndjson'), `${events.join('\n')}\n`);
    await writeFile(join(dir.path, 'chat-in.ndjson'), `${chat.join('\n')}\n`);
    const copyLoop = await handLoop(dir.path, 'copy', join(dir.path, 'events-in.ndjson'), copyReducer());
    const copyCatalog = await loadCatalog(join(dir.path, 'copy.flow.yaml'));
    const copy = await inletRun(client, copyCatalog, join(dir.path, 'copy.mjs'), join(dir.path, 'rt-copy'), sizes.passThrough, sizes.live, {
      derived: 'acme/copy',
      live: (i) => ({ 'acme/events': [event(sizes.passThrough + i)] }),
      matches: (d, i) => (d as { id?: number }).id === sizes.passThrough + i,
      profile: sizes.profile,
      brokerPid: broker.proc.pid,
      stores: [lake],
    });
    const variantA = `(a) pass-through, ${sizes.passThrough.toLocaleString('en')} docs`;
    rows.push(row(variantA, 'hand-written loop', copyLoop, eventBytes));
    rows.push(row(variantA, 'inlet', copy, eventBytes, copyLoop));
    log(`bench D: pass-through ${Math.round(copy.docsps)} docs/s, ${copy.cpuUsPerDoc!.toFixed(1)} µs CPU/doc (loop ${Math.round(copyLoop.docsps)})`);

    // (b) the chat example's userDetails.
    const chatCatalog = await loadCatalog(join(dir.path, 'chat/userDetails.flow.yaml'));
    const module = (await buildModules(chatCatalog, { dir: join(dir.path, 'chat-build') }))!;
    const lambdas = new (((await import(module)) as { UserDetails: new () => ChatLambdas }).UserDetails)();
    const variantB = `(b) chat userDetails, ${sizes.chat.toLocaleString('en')} docs, ${(sizes.chat / 2).toLocaleString('en')} registers`;
    const chatRun = await inletRun(client, chatCatalog, module, join(dir.path, 'rt-chat'), sizes.chat, sizes.live, {
      derived: 'userDetails',
      live: (i) => ({ roomUsers: [{ roomId: `live-${i}`, userId: `live-${i}`, seenTimestamp: 0 }] }),
      matches: (d, i) => (d as { id?: string }).id === `live-${i}`,
      profile: sizes.profile,
      brokerPid: broker.proc.pid,
      stores: [lake],
    });
    // After inlet's run, so that its RSS growth is its own.
    const chatLoop = await handLoop(dir.path, 'chat', join(dir.path, 'chat-in.ndjson'), chatReducer(lambdas));
    const d2 = await d2tsRun(join(dir.path, 'chat-in.ndjson'));
    rows.push(row(variantB, 'hand-written loop', chatLoop, chatBytes));
    rows.push(row(variantB, '@electric-sql/d2ts', d2, chatBytes, chatLoop));
    rows.push(row(variantB, 'inlet', chatRun, chatBytes, chatLoop));
    log(`bench D: chat ${Math.round(chatRun.docsps)} docs/s, ${chatRun.cpuUsPerDoc!.toFixed(1)} µs CPU/doc (loop ${Math.round(chatLoop.docsps)}, d2ts ${Math.round(d2.docsps)})`);
  } finally {
    await broker.stop('SIGTERM');
    await dir.remove();
  }
  return rows;
}

interface Measured {
  docsps: number;
  seconds: number;
  p50?: number;
  p99?: number;
  p999?: number;
  rssMiB: number;
  /** CPU time of this process (runtime, lambda worker) per source document while backfilling: less sensitive to a busy machine than docs/s. */
  cpuUsPerDoc?: number;
  failed?: string;
}

function row(variant: string, system: string, m: Measured, bytes: number, limit?: Measured): Row {
  const mbps = bytes / 1e6 / m.seconds;
  return {
    workload: 'D derivations',
    variant,
    system,
    reps: 1,
    mbps: { median: mbps, min: mbps, max: mbps },
    docsps: m.docsps,
    ...(m.p50 !== undefined ? { p50: m.p50, p99: m.p99!, p999: m.p999! } : {}),
    ...(limit ? { limit: { name: 'hand-written loop', mbps: bytes / 1e6 / limit.seconds }, ratioToLimit: m.docsps / limit.docsps } : {}),
    peakRssMiB: m.rssMiB,
    ...(m.failed ? { failed: m.failed } : {}),
  };
}

/**
 * The limit: one loop that reads the NDJSON file, keeps registers in a Map, combines its output
 * by key in memory (as inlet combines a transaction's documents) and writes it to a file.
 */
async function handLoop(dir: string, name: string, input: string, step: (s: unknown, out: unknown[]) => void): Promise<Measured> {
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const lines = await readLines(input);
  const out: unknown[] = [];
  for (const line of lines) step(JSON.parse(line), out);
  const file = createWriteStream(join(dir, `${name}.ndjson`));
  for (const d of out) file.write(JSON.stringify(d) + '\n');
  await new Promise((resolve) => file.end(resolve));
  const seconds = (performance.now() - t0) / 1000;
  return { docsps: lines.length / seconds, seconds, rssMiB: Math.max(0, process.memoryUsage().rss - rss0) / 2 ** 20 };
}

async function readLines(file: string): Promise<string[]> {
  const lines = (await readFile(file, 'utf8')).split('\n');
  lines.pop();
  return lines;
}

/** The pass-through by hand: each event published as it is, combined by its key (/id), the last one kept. */
function copyReducer(): (s: unknown, out: unknown[]) => void {
  const at = new Map<number, number>();
  return (s, out) => {
    const id = (s as { id: number }).id;
    const i = at.get(id);
    if (i === undefined) {
      at.set(id, out.length);
      out.push(s);
    } else out[i] = s;
  };
}

interface Room {
  subscribers: { userId: string; seenTimestamp: number }[];
  messages: Record<string, number>;
}
interface ChatLambdas {
  fromMessagesUpdate(s: unknown): Room[];
  fromMessagesPublish(s: unknown, r: Room, p: Room): { id: string; numUnreadRooms: number }[];
  fromRoomUsersUpdate(s: unknown): Room[];
  fromRoomUsersPublish(s: unknown, r: Room, p: Room): { id: string; numUnreadRooms: number }[];
}

/** The chat derivation by hand: the example's own lambdas, in-process, its register reduce written out, output summed per user. */
function chatReducer(l: ChatLambdas): (s: unknown, out: unknown[]) => void {
  const rooms = new Map<string, Room>();
  const users = new Map<string, { id: string; numUnreadRooms: number }>();
  return (s, out) => {
    const doc = s as { roomId: string; userId?: string };
    const message = doc.userId === undefined;
    const previous = rooms.get(doc.roomId) ?? { subscribers: [], messages: {} };
    let register = previous;
    for (const u of message ? l.fromMessagesUpdate(doc) : l.fromRoomUsersUpdate(doc)) {
      const subscribers = [...register.subscribers];
      for (const sub of u.subscribers) {
        const at = subscribers.findIndex((x) => x.userId === sub.userId);
        if (at >= 0) subscribers[at] = sub;
        else subscribers.push(sub);
      }
      subscribers.sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
      register = { subscribers, messages: { ...register.messages, ...u.messages } };
    }
    rooms.set(doc.roomId, register);
    for (const d of message ? l.fromMessagesPublish(doc, register, previous) : l.fromRoomUsersPublish(doc, register, previous)) {
      const u = users.get(d.id);
      if (u) u.numUnreadRooms += d.numUnreadRooms;
      else {
        const fresh = { ...d };
        users.set(d.id, fresh);
        out.push(fresh);
      }
    }
  };
}

/**
 * numUnreadRooms in differential dataflow: the latest message per room (reduce), joined with
 * the room's subscriptions, kept where the message is newer than what was seen, counted per
 * user. Fed in versions of 10,000 documents, each run to its frontier.
 */
async function d2tsRun(file: string): Promise<Measured> {
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const lines = await readLines(file);
  const graph = new D2({ initialFrontier: 0 });
  const messages = graph.newInput<[string, number]>();
  const subs = graph.newInput<[string, [string, number]]>();
  const unread = new Map<string, number>();
  const latest = messages.pipe(
    reduce((values: [number, number][]) => {
      let max = -Infinity;
      for (const [t, m] of values) if (m > 0 && t > max) max = t;
      return [[max, 1]];
    }),
  );
  subs.pipe(
    d2join(latest),
    filter(([, [sub, last]]) => sub !== null && last !== null && last > sub[1]),
    map(([, [sub]]) => [sub![0], 1] as [string, number]),
    reduce((values: [number, number][]) => {
      let n = 0;
      for (const [v, m] of values) n += v * m;
      return [[n, 1]];
    }),
    output((msg) => {
      if (msg.type !== MessageType.DATA) return;
      for (const [[user, n], m] of msg.data.collection.getInner()) if (m > 0) unread.set(user, n);
    }),
  );
  graph.finalize();
  const VERSION = 10_000;
  for (let at = 0, version = 0; at < lines.length; at += VERSION, version++) {
    const m: [[string, number], number][] = [];
    const s: [[string, [string, number]], number][] = [];
    for (let i = at; i < Math.min(at + VERSION, lines.length); i++) {
      const d = JSON.parse(lines[i]!) as { roomId: string; userId?: string; seenTimestamp?: number; timestamp?: number };
      if (d.userId === undefined) m.push([[d.roomId, d.timestamp!], 1]);
      else s.push([[d.roomId, [d.userId, d.seenTimestamp!]], 1]);
    }
    messages.sendData(version, new MultiSet(m));
    subs.sendData(version, new MultiSet(s));
    messages.sendFrontier(version + 1);
    subs.sendFrontier(version + 1);
    graph.run();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { docsps: lines.length / seconds, seconds, rssMiB: Math.max(0, process.memoryUsage().rss - rss0) / 2 ** 20 };
}

/** inlet: a runtime over `catalog`'s derivation backfills `n` source documents, then follows `live` single-document ingests. */
async function inletRun(
  client: BrokerClient,
  catalog: Catalog,
  module: string,
  dataDir: string,
  n: number,
  liveCount: number,
  live: {
    derived: string;
    live: (i: number) => Record<string, unknown[]>;
    matches: (doc: unknown, i: number) => boolean;
    profile?: string | undefined;
    brokerPid?: number | undefined;
    /** The lake, which the readers open themselves (as under `inlet serve`). */
    stores: readonly string[];
  },
): Promise<Measured> {
  const session = live.profile ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const broker0 = processCpuMs(live.brokerPid);
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const rt = await DerivationRuntime.start({ catalog, client, writer: new Appender(client), module, dataDir, batchSize: 2000, stores: live.stores });
  try {
    await rt.settled();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      await mkdir(live.profile!, { recursive: true });
      const file = join(live.profile!, `${live.derived.replaceAll('/', '_')}.cpuprofile`);
      await writeFile(file, JSON.stringify(profile));
      const elu = performance.eventLoopUtilization(elu0);
      const brokerMs = processCpuMs(live.brokerPid) - broker0;
      console.error(
        `bench D: ${live.derived}: ${file}; main thread busy ${(elu.utilization * 100).toFixed(0)}%, process CPU ${((cpu.user + cpu.system) / 1e3 / (seconds * 1000) * 100).toFixed(0)}% of one core, broker CPU ${((brokerMs / (seconds * 1000)) * 100).toFixed(0)}%`,
      );
    }
    // The whole process once backfilled: growth from rss0 is blurred by the GC of earlier runs.
    const rssMiB = process.memoryUsage().rss / 2 ** 20;
    const abort = new AbortController();
    let waiting: { i: number; arrived: () => void } | undefined;
    const reader = (async () => {
      for await (const d of readCollection(client, live.derived, { follow: true, signal: abort.signal })) {
        if (waiting && live.matches(d.doc, waiting.i)) waiting.arrived();
      }
    })().catch(() => undefined);
    const lat = new Latencies();
    // Document 0 is not timed: it waits for the reader above to read the whole backfilled output
    // from the beginning, which a following reader does once.
    for (let i = 0; i <= liveCount; i++) {
      const arrived = new Promise<void>((resolve) => (waiting = { i, arrived: resolve }));
      await client.ingest(live.live(i));
      // From the source's ack: the ingest is committed once it answers.
      const t = performance.now();
      await arrived;
      if (i > 0) lat.add(performance.now() - t);
    }
    abort.abort();
    await reader;
    return { docsps: n / seconds, seconds, rssMiB, cpuUsPerDoc: (cpu.user + cpu.system) / n, ...lat.percentiles() };
  } finally {
    await rt.stop();
  }
}

/** CPU time (user + system) of a process so far, in ms, from /proc; 0 when unknown. */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}
