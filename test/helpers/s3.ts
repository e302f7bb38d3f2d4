import { rm } from 'node:fs/promises';
import S3rver from 's3rver';
import { tempDir } from './broker.js';

export interface TestS3 {
  /** Store URL for the bucket, e.g. `s3://lake/prefix/?endpoint=…&forcePathStyle=true`. */
  storeUrl(prefix?: string): string;
  /** Where presigned URLs of objects under `prefix` point (path style): a reader's `stores` entry. */
  presignedPrefix(prefix: string): string;
  /** Env a broker (or any AWS SDK client) needs to reach it. */
  env: NodeJS.ProcessEnv;
  /** False for an external endpoint (MinIO), which tests cannot take down. */
  canStop: boolean;
  stop(): Promise<void>;
  /** Starts the server again on the same port over the same data (after `stop`). */
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

const BUCKET = 'lake';

/**
 * A real S3-protocol server for tests: s3rver on a free loopback port, or the MinIO (or other)
 * endpoint in INLET_TEST_S3_ENDPOINT with credentials from the usual AWS_* variables.
 */
export async function startS3(): Promise<TestS3> {
  const external = process.env.INLET_TEST_S3_ENDPOINT;
  if (external) {
    return {
      storeUrl: (prefix = `t${Date.now()}/`) => `s3://${process.env.INLET_TEST_S3_BUCKET ?? BUCKET}/${prefix}?endpoint=${encodeURIComponent(external)}&region=us-east-1&forcePathStyle=true`,
      presignedPrefix: (prefix) => `${external.replace(/\/$/, '')}/${process.env.INLET_TEST_S3_BUCKET ?? BUCKET}/${prefix}`,
      env: {},
      canStop: false,
      stop: async () => {
        throw new Error('cannot stop an external S3 endpoint');
      },
      restart: async () => undefined,
      cleanup: async () => undefined,
    };
  }
  const directory = await tempDir('inlet-s3-');
  let port = 0;
  let server: S3rver;
  const start = async () => {
    server = new S3rver({ port, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: BUCKET, configs: [] }] });
    const info = (await server.run()) as { port: number };
    port = info.port;
  };
  await start();
  const endpoint = () => `http://127.0.0.1:${port}`;
  return {
    storeUrl: (prefix = '') => `s3://${BUCKET}/${prefix}?endpoint=${encodeURIComponent(endpoint())}&region=us-east-1&forcePathStyle=true`,
    presignedPrefix: (prefix) => `${endpoint()}/${BUCKET}/${prefix}`,
    env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' },
    canStop: true,
    stop: () => server.close(),
    restart: start,
    cleanup: async () => {
      await server.close().catch(() => undefined);
      await rm(directory, { recursive: true, force: true });
    },
  };
}
