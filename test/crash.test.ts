import test from 'ava';
import { open, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeFrameHeader, FILE_HEADER, FRAME_HEADER } from '../src/journal/spool-format.js';
import { appendTo, cleanup, createJournal, readAll, startBroker, tempDir } from './helpers/broker.js';

/** One append: a line `w,seq,len,<len bytes derived from w and seq>\n`. Lengths vary up to ~48 KiB. */
function record(w: number, seq: number): string {
  const len = ((w * 7919 + seq * 104729) % 48_000) + 16;
  const ch = String.fromCharCode(97 + ((w + seq) % 26));
  return `${w},${seq},${len},${ch.repeat(len)}\n`;
}

/** Parses a journal of records; throws if any record is torn or does not match its derivation. */
function parseRecords(data: Buffer): Map<string, number> {
  const seen = new Map<string, number>(); // "w,seq" → begin offset
  let at = 0;
  while (at < data.length) {
    const nl = data.indexOf(10, at);
    if (nl < 0) throw new Error(`torn record at ${at}: no newline in the last ${data.length - at} bytes`);
    const line = data.toString('latin1', at, nl + 1);
    const [w, seq] = line.split(',').map(Number);
    if (line !== record(w!, seq!)) throw new Error(`corrupt record at ${at}`);
    seen.set(`${w},${seq}`, at);
    at = nl + 1;
  }
  return seen;
}

test('SIGKILL during concurrent appends loses no acknowledged byte and exposes no partial append', async (t) => {
  const dataDir = await tempDir();
  const acked = new Map<string, { begin: number; end: number }>();
  const next = Array.from({ length: 8 }, () => 0);
  try {
    for (let round = 0; round < 3; round++) {
      const b = await startBroker({ dataDir });
      if (round === 0) await createJournal(b.url, 'crash/j', 'application/x-ndjson');
      let stop = false;
      const writers = next.map(async (_, w) => {
        while (!stop) {
          const seq = next[w]!;
          try {
            const res = await appendTo(b.url, 'crash/j', record(w, seq), 'application/x-ndjson');
            if (res.status !== 204) throw new Error(`append got ${res.status}`);
            acked.set(`${w},${seq}`, { begin: Number(res.headers.get('inlet-append-begin')), end: Number(res.headers.get('inlet-append-end')) });
            next[w] = seq + 1;
          } catch {
            return; // the broker died mid-request: this append is unacknowledged
          }
        }
      });
      // Kill once this round has a few hundred acknowledgements in, while appends are in flight.
      const target = acked.size + 150 + round * 50;
      while (acked.size < target) await new Promise((r) => setTimeout(r, 2));
      await b.stop('SIGKILL');
      stop = true;
      await Promise.all(writers);
      // Unacknowledged appends may or may not have landed; resume each writer after what landed.
      const b2 = await startBroker({ dataDir });
      const data = await readAll(b2.url, 'crash/j');
      const present = parseRecords(data);
      for (const [key, a] of acked) {
        t.true(present.has(key), `acknowledged append ${key} is missing after round ${round}`);
        t.is(data.toString('latin1', a.begin, a.end), record(...(key.split(',').map(Number) as [number, number])));
      }
      for (const key of present.keys()) {
        const [w, seq] = key.split(',').map(Number) as [number, number];
        next[w] = Math.max(next[w]!, seq + 1);
      }
      await b2.stop('SIGKILL');
    }
    t.true(acked.size >= 450);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

/** The frames of a format-2 spool file: where each begins in the file and what its record says. */
function framesOf(file: Buffer): { pos: number; begin: number; end: number; durable: number }[] {
  const frames = [];
  for (let pos = FILE_HEADER; pos + FRAME_HEADER <= file.length; ) {
    const h = decodeFrameHeader(file, pos);
    if (!h) break;
    frames.push({ pos, ...h });
    pos += FRAME_HEADER + (h.end - h.begin);
  }
  return frames;
}

test('SIGKILL while a batch is written behind another\'s fsync: acknowledged appends survive, a torn record of the batches in flight is cut, nothing is half there', async (t) => {
  const dataDir = await tempDir();
  const journalDir = join(dataDir, 'journals/crash/pipelined');
  try {
    const setup = await startBroker({ dataDir });
    await createJournal(setup.url, 'crash/pipelined', 'application/x-ndjson');
    await setup.stop('SIGTERM');
    // The broker kills itself the 20th time a write completes while the previous fdatasync is in flight.
    const b = await startBroker({ dataDir, env: { INLET_CRASH_AT: 'spool.pipelined:20' } });
    const acked = new Map<string, { begin: number; end: number }>();
    let sent = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let seq = 0; sent++ < 20_000; seq++) {
          try {
            const res = await appendTo(b.url, 'crash/pipelined', record(w, seq), 'application/x-ndjson');
            if (res.status !== 204) throw new Error(`append got ${res.status}`);
            acked.set(`${w},${seq}`, { begin: Number(res.headers.get('inlet-append-begin')), end: Number(res.headers.get('inlet-append-end')) });
          } catch {
            return; // the broker died: this append is unacknowledged
          }
        }
      }),
    );
    t.is(await b.stop('SIGKILL'), 'SIGKILL');
    t.true(sent < 20_000, 'the broker killed itself at the crash point, not after the appends ran out');
    t.true(acked.size > 0);

    // Tear the record of the first batch in flight: past every acknowledged byte and past
    // every offset any record on disk claims durable (a crash cannot tear what was fsync'd).
    const spools = (await readdir(journalDir)).filter((f) => /^@[0-9a-f]{16}\.spool$/.test(f)).sort();
    const path = join(journalDir, spools.at(-1)!);
    const frames = framesOf(await readFile(path));
    const watermark = Math.max(...frames.map((f) => f.durable), ...[...acked.values()].map((a) => a.end));
    const torn = frames.find((f) => f.begin >= watermark);
    t.truthy(torn, 'a batch was in flight behind the acknowledged ones');
    const fh = await open(path, 'r+');
    await fh.write(Buffer.from([0xff]), 0, 1, torn!.pos + 12);
    await fh.close();

    const b2 = await startBroker({ dataDir });
    try {
      const data = await readAll(b2.url, 'crash/pipelined');
      t.is(data.length, torn!.begin);
      const present = parseRecords(data); // throws on any record torn or half there
      for (const [key, a] of acked) {
        t.true(present.has(key), `acknowledged append ${key} is missing`);
        t.is(data.toString('latin1', a.begin, a.end), record(...(key.split(',').map(Number) as [number, number])));
      }
      t.regex(b2.logs(), new RegExp(`cut offsets \\[${torn!.begin}, \\d+\\)`));
      const res = await appendTo(b2.url, 'crash/pipelined', record(99, 0), 'application/x-ndjson');
      t.is(res.headers.get('inlet-append-begin'), String(torn!.begin));
    } finally {
      await b2.stop('SIGKILL');
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('SIGTERM drains in-flight appends and exits 0; every acknowledged append survives', async (t) => {
  const b = await startBroker();
  try {
    await createJournal(b.url, 'drain/j', 'application/x-ndjson');
    const acked: string[] = [];
    let stop = false;
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let seq = 0; !stop; seq++) {
        try {
          const res = await appendTo(b.url, 'drain/j', record(w, seq), 'application/x-ndjson');
          if (res.status === 204) acked.push(`${w},${seq}`);
          else return; // 503 while draining
        } catch {
          return;
        }
      }
    });
    while (acked.length < 100) await new Promise((r) => setTimeout(r, 2));
    const code = await b.stop('SIGTERM');
    stop = true;
    await Promise.all(writers);
    t.is(code, 0);
    const b2 = await startBroker({ dataDir: b.dataDir });
    const present = parseRecords(await readAll(b2.url, 'drain/j'));
    for (const key of acked) t.true(present.has(key), `acknowledged ${key} missing`);
    await b2.stop('SIGKILL');
  } finally {
    await cleanup(b);
  }
});

test('a full disk fails the append with 507, keeps the journal consistent, and other journals keep working', async (t) => {
  const b = await startBroker();
  try {
    await createJournal(b.url, 'full/j');
    await createJournal(b.url, 'full/ok');
    await b.stop('SIGTERM');
    // The journal's first spool will write to a device that is always full.
    await symlink('/dev/full', join(b.dataDir, 'journals/full/j/@0000000000000000.spool'));
    const b2 = await startBroker({ dataDir: b.dataDir });
    const res = await appendTo(b2.url, 'full/j', 'abc');
    t.is(res.status, 507);
    const body = (await res.json()) as { error: { code: string; message: string } };
    t.is(body.error.code, 'STORAGE_FULL');
    t.regex(body.error.message, /disk is full/);
    t.is((await appendTo(b2.url, 'full/ok', 'fine')).status, 204);
    const head = await fetch(`${b2.url}/v1/stream/full/j`, { method: 'HEAD' });
    t.is(head.headers.get('stream-next-offset'), '0000000000000000_0000000000000000');
    t.is((await readAll(b2.url, 'full/j')).length, 0);
    t.is((await readAll(b2.url, 'full/ok')).toString(), 'fine');
    await b2.stop('SIGKILL');
  } finally {
    await cleanup(b);
  }
});
