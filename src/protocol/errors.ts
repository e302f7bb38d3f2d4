import { Type, type Static } from '@sinclair/typebox';

/**
 * The one error class of inlet. Every failure that crosses a module or the wire
 * carries a stable string `code`; HTTP statuses are derived from codes in one place.
 */
export class InletError extends Error {
  override readonly name = 'InletError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.details = options?.details;
  }
  readonly details: Record<string, unknown> | undefined;

  /** The HTTP status this error answers with. */
  get status(): number {
    return STATUS[this.code];
  }

  toJSON(): { error: { code: string; message: string } & Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.details } };
  }
}

const STATUS = {
  BAD_REQUEST: 400,
  INVALID_JOURNAL_NAME: 400,
  INVALID_SPEC: 400,
  STORE_NOT_ALLOWED: 400,
  INVALID_SELECTOR: 400,
  INVALID_OFFSET: 400,
  INVALID_CONTENT: 400,
  EMPTY_APPEND: 400,
  INVALID_CATALOG: 400,
  INVALID_SCHEMA: 400,
  INVALID_DOCUMENT: 400,
  REDUCE_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  HOST_NOT_ALLOWED: 403,
  ORIGIN_NOT_ALLOWED: 403,
  NOT_FOUND: 404,
  JOURNAL_NOT_FOUND: 404,
  FRAGMENT_NOT_FOUND: 404,
  COLLECTION_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  JOURNAL_EXISTS: 409,
  WRONG_APPEND_OFFSET: 409,
  SEQUENCE_CONFLICT: 409,
  STREAM_CLOSED: 409,
  DATA_DIR_LOCKED: 409,
  MATERIALIZATION_FENCED: 409,
  TABLE_INCOMPATIBLE: 409,
  OFFSET_GONE: 410,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  PRODUCER_STALE_EPOCH: 403,
  PRODUCER_SEQUENCE_GAP: 409,
  SHUTTING_DOWN: 503,
  JOURNAL_FAILED: 503,
  OVERLOADED: 503,
  STORE_BACKLOG: 503,
  STORE_UNAVAILABLE: 502,
  DATABASE_UNAVAILABLE: 503,
  FRAGMENT_CORRUPT: 502,
  STORAGE_FULL: 507,
  IO_ERROR: 500,
  INTERNAL: 500,
  DERIVATION_FAILED: 500,
} as const;

export type ErrorCode = keyof typeof STATUS;

/** Maps a filesystem error raised while writing to the error a client sees. */
export function storageError(err: unknown, what: string): InletError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new InletError('STORAGE_FULL', `${what}: the broker's disk is full (${code})`, { cause: err });
  }
  return new InletError('IO_ERROR', `${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/** The body of every error answer: `{ "error": { "code", "message", …details } }`. */
export const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: true }),
});
export type ErrorBody = Static<typeof ErrorBody>;
