import type { JournalSpecInput } from '../protocol/journal-spec.js';

/**
 * The port through which collections write: journals that exist, and durable appends to them.
 * The broker implements it over its internals (for `/ingest`); `Appender` implements it over
 * HTTP, so publishers run in any process.
 */
export interface JournalWriter {
  /** Creates the journal unless it exists (an existing journal is used as it is). */
  ensure(spec: JournalSpecInput): Promise<void>;
  /**
   * Appends NDJSON atomically; resolves with the journal's end offset once durable. A retry
   * after a lost answer never writes the bytes twice.
   */
  append(journal: string, body: Buffer): Promise<number>;
  /** Throws (503) while the lake cannot keep up. */
  checkBacklog(): void;
}
