import { InletError } from '../errors.js';

/** Bytes of one journal starting at `offset`. Chunks of one reader are contiguous. */
export interface Chunk {
  readonly journal: string;
  readonly offset: number;
  readonly data: Buffer;
  /** Where the bytes came from: a fragment read straight from its store, or the broker. */
  readonly source: 'store' | 'broker';
}

/** One NDJSON document of a journal with the offsets of its line `[begin, end)`. */
export interface Document<T = unknown> {
  readonly journal: string;
  readonly begin: number;
  readonly end: number;
  readonly doc: T;
  /** The line's JSON text, without its newline, when the reader keeps it (`lines`). */
  readonly line?: string;
}

/** A reader skipped history that no longer exists (only when `allowJumps` is set). */
export interface Jump {
  readonly journal: string;
  readonly from: number;
  readonly to: number;
}

export interface ReaderOptions {
  /** Where to start: a byte offset, -1 or 0 for the beginning, or 'now' for the write head. Default 0. */
  offset?: number | 'now';
  /** Keep reading live appends after catching up (default false: end at the write head). */
  follow?: boolean;
  /**
   * Read persisted fragments straight from their store (default 'auto': a local path or a
   * presigned URL the broker hands out, when `stores` allows it, falling back to the broker).
   * 'never' reads all through the broker.
   */
  direct?: 'auto' | 'never';
  /**
   * URL prefixes of the stores this reader may read fragments from directly: a local lake as
   * `file:///var/lake/`, presigned S3 URLs as `https://bucket.s3.eu-west-1.amazonaws.com/prefix/`
   * (or the endpoint's `http://host:port/bucket/prefix/`). Default none: every byte comes
   * through the broker, and a fragment URL outside these is never opened, whoever hands it out.
   */
  stores?: readonly string[];
  /** Skip over history missing from every store instead of failing; `onJump` says where. */
  allowJumps?: boolean;
  onJump?: (jump: Jump) => void;
  /** Called after each failed attempt that will be retried. */
  onRetry?: (err: Error, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

/** An error a retry cannot fix (missing journal, missing history without allowJumps). */
export class ReaderError extends InletError {}
