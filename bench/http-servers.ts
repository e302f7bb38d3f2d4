/**
 * What the HTTP framework costs a single-document append: fastify (what the broker uses) against
 * a bare `node:http` request listener, each answering the same POST (read the body, count its
 * bytes, 204 with the next offset) in a process of its own, driven by the same undici client with
 * 64 connections in a closed loop, alternating runs in one invocation.
 *
 *   node dist/bench/http-servers.js [-- --seconds 3 --reps 3]
 *
 * Reported per server: requests/s (median) and the server's CPU time per request, which is what
 * a framework change could save the broker per append (its own work, fsync excluded, comes on top).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { Pool } from 'undici';
import { median } from './lib/stats.js';

const SERVERS = ['fastify', 'node:http'] as const;
type Kind = (typeof SERVERS)[number];
const BODY = Buffer.from(`${JSON.stringify({ id: 1, carrier: 'UPS', weight: 12.5, note: 'x'.repeat(140) })}\n`);

async function serve(kind: Kind): Promise<void> {
  let offset = 0;
  const reply = (n: number) => {
    offset += n;
    return String(offset).padStart(16, '0');
  };
  let port: number;
  if (kind === 'fastify') {
    const app = Fastify({ logger: false, bodyLimit: 16 * 1024 * 1024 });
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    app.post('/v1/stream/*', async (req, res) => {
      res.code(204).header('stream-next-offset', reply((req.body as Buffer).length));
    });
    app.get('/cpu', async () => process.cpuUsage());
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  } else {
    const server = createServer((req, res) => {
      if (req.method === 'POST' && req.url!.startsWith('/v1/stream/')) {
        const parts: Buffer[] = [];
        let n = 0;
        req.on('data', (c: Buffer) => (parts.push(c), (n += c.length)));
        req.on('end', () => {
          res.writeHead(204, { 'stream-next-offset': reply(n) });
          res.end();
        });
      } else if (req.url === '/cpu') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(process.cpuUsage()));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  }
  process.send!({ port });
}

async function start(kind: Kind): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', kind], { stdio: 'inherit' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

async function cpu(pool: Pool): Promise<number> {
  const res = await pool.request({ path: '/cpu', method: 'GET' });
  const u = (await res.body.json()) as { user: number; system: number };
  return u.user + u.system;
}

/** Requests/s and server CPU µs per request over `seconds`, 64 closed loops. */
async function run(url: string, seconds: number): Promise<{ rps: number; cpuUs: number }> {
  const pool = new Pool(url, { connections: 64, pipelining: 1 });
  try {
    const cpu0 = await cpu(pool);
    let done = 0;
    const until = performance.now() + seconds * 1000;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 64 }, async (_, i) => {
        while (performance.now() < until) {
          const res = await pool.request({ path: `/v1/stream/bench/j${i % 8}`, method: 'POST', body: BODY, headers: { 'content-type': 'application/x-ndjson' } });
          await res.body.dump();
          if (res.statusCode !== 204) throw new Error(`status ${res.statusCode}`);
          done++;
        }
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    const cpuUs = (await cpu(pool)) - cpu0;
    return { rps: done / secs, cpuUs: cpuUs / done };
  } finally {
    await pool.close();
  }
}

const { values } = parseArgs({ options: { serve: { type: 'string' }, seconds: { type: 'string', default: '3' }, reps: { type: 'string', default: '3' } } });
if (values.serve) {
  await serve(values.serve as Kind);
} else {
  const seconds = Number(values.seconds);
  const servers = await Promise.all(SERVERS.map(async (kind) => ({ kind, ...(await start(kind)) })));
  const results = new Map<Kind, { rps: number[]; cpuUs: number[] }>(SERVERS.map((k) => [k, { rps: [], cpuUs: [] }]));
  try {
    for (const s of servers) await run(s.url, 1); // warm-up, unrecorded
    for (let rep = 0; rep < Number(values.reps); rep++) {
      for (const s of rep % 2 === 0 ? servers : [...servers].reverse()) {
        const r = await run(s.url, seconds);
        results.get(s.kind)!.rps.push(r.rps);
        results.get(s.kind)!.cpuUs.push(r.cpuUs);
      }
    }
  } finally {
    for (const s of servers) s.child.kill('SIGKILL');
  }
  const base = median(results.get('node:http')!.rps);
  console.log('| server | requests/s (median) | server CPU µs/request | × node:http |');
  console.log('|---|---:|---:|---:|');
  for (const kind of SERVERS) {
    const r = results.get(kind)!;
    console.log(`| ${kind} | ${median(r.rps).toFixed(0)} | ${median(r.cpuUs).toFixed(1)} | ${(median(r.rps) / base).toFixed(2)} |`);
  }
}
