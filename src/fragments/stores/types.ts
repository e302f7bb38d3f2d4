import type { Readable } from 'node:stream';

export interface StoredObject {
  /** Key relative to the store's prefix. */
  readonly key: string;
  readonly size: number;
  readonly modified: Date;
}

/** What an uploaded object must be: its length and the MD5 of its bytes (base64, as S3's Content-MD5). */
export interface ObjectCheck {
  readonly size: number;
  readonly md5: string;
}

/**
 * Where fragments live. Keys are relative to the store URL's prefix. Every implementation
 * makes `put` atomic: an object is either absent or complete, never partly visible.
 */
export interface FragmentStore {
  /** The store URL it was opened with, e.g. `file:///var/lake/` or `s3://bucket/prefix/`. */
  readonly url: string;
  /**
   * Uploads a local file as `key` (multipart where the backend needs it for large files),
   * recording `check` with it; the backend verifies the bytes in transit where it can.
   */
  put(key: string, file: string, check: ObjectCheck): Promise<void>;
  putBytes(key: string, data: Buffer): Promise<void>;
  /**
   * True when `key` holds exactly the object `check` describes (its size and MD5), false when
   * it is absent or differs. A bare existence check would let a partial or foreign object pass.
   */
  confirm(key: string, check: ObjectCheck): Promise<boolean>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): Promise<StoredObject[]>;
  /** Reads an object, or bytes `[start, end)` of it. Throws FRAGMENT_NOT_FOUND if absent. */
  open(key: string, range?: { start: number; end: number }): Promise<Readable>;
  /** A URL anyone holding it can GET the object from, until it expires. */
  presign(key: string, expiresSeconds: number): Promise<string>;
  delete(key: string): Promise<void>;
  /** Where the object is, for people: a path or an s3:// URL. */
  location(key: string): string;
}
