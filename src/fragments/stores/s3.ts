import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { InletError } from '../../errors.js';
import { parseS3Url, s3Location } from './s3-url.js';
import type { FragmentStore, ObjectCheck, StoredObject } from './types.js';

const PART_SIZE = 8 * 1024 * 1024;
/** User metadata holding the MD5 (base64) of the object's bytes as uploaded. */
const MD5_META = 'inlet-md5';

/**
 * An S3-compatible bucket: `s3://bucket/prefix/?endpoint=http://minio:9000&region=us-east-1&forcePathStyle=true`.
 * Credentials come from the standard AWS chain (env, profile, instance role). Large fragments
 * upload in parts of 8 MiB, four at a time.
 */
export class S3Store implements FragmentStore {
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;

  constructor(readonly url: string) {
    const { bucket, prefix, query: q } = parseS3Url(url);
    this.bucket = bucket;
    this.prefix = prefix;
    this.client = new S3Client({
      region: q.get('region') ?? process.env.AWS_REGION ?? 'us-east-1',
      ...(q.get('endpoint') ? { endpoint: q.get('endpoint')! } : {}),
      forcePathStyle: q.get('forcePathStyle') === 'true',
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
    });
  }

  async put(key: string, file: string, check: ObjectCheck): Promise<void> {
    const params = { Bucket: this.bucket, Key: this.prefix + key, Metadata: { [MD5_META]: check.md5 } };
    if (check.size <= PART_SIZE) {
      // One request: S3 refuses the object unless its bytes match Content-MD5.
      await this.client.send(new PutObjectCommand({ ...params, Body: await readFile(file), ContentMD5: check.md5 }));
      return;
    }
    const upload = new Upload({
      client: this.client,
      params: { ...params, Body: createReadStream(file) },
      partSize: PART_SIZE,
      queueSize: 4,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  /** Compares the object's length with `check`, and the MD5 recorded at upload (S3's ETag of a multipart object is no MD5). */
  async confirm(key: string, check: ObjectCheck): Promise<boolean> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      return head.ContentLength === check.size && head.Metadata?.[MD5_META] === check.md5;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async putBytes(key: string, data: Buffer): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Body: data }));
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        out.push({ key: o.Key!.slice(this.prefix.length), size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async open(key: string, range?: { start: number; end: number }): Promise<Readable> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
        }),
      );
      return res.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) throw new InletError('FRAGMENT_NOT_FOUND', `fragment ${this.location(key)} does not exist`, { cause: err });
      throw err;
    }
  }

  presign(key: string, expiresSeconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }), { expiresIn: expiresSeconds });
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
  }

  location(key: string): string {
    return s3Location(this.bucket, this.prefix, key);
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}
