/**
 * A database a materialization writes: its table and its fenced checkpoint, kept in the same
 * database so that rows and checkpoint commit together (DESIGN.md, "Exactly once").
 *
 * Fence: `open` bumps the materialization's fence in `inlet_checkpoints` and remembers it;
 * every `commit` stores the checkpoint only where the fence is still the one it bumped, in the
 * same database transaction as the rows. A process that another has since opened the same
 * materialization over is fenced off: its commit fails with MATERIALIZATION_FENCED and writes
 * nothing, so it can never overwrite what the newer process committed.
 */
export interface Driver {
  /**
   * Creates the table when missing, or adds the columns of new optional fields to it (throws
   * TABLE_INCOMPATIBLE otherwise), and the checkpoint table; bumps the fence. Resolves with
   * the checkpoint of the last commit (JSON text), or undefined for a first run.
   */
  open(): Promise<string | undefined>;
  /**
   * In one database transaction: checks the fence and stores `checkpoint`; with `merge`,
   * loads the stored `flow_document` of each document's key (one query) and writes
   * `merge(stored, doc)` (an upsert), else inserts `docs` as they are (delta updates).
   * Nothing is written when it rejects.
   */
  commit(docs: readonly unknown[], checkpoint: string, merge?: Merge): Promise<void>;
  /** Closes the connection; a commit in flight fails. */
  close(): Promise<void>;
}

/** Reduces a combined document into the stored one of its key (undefined when there is none). */
export type Merge = (stored: unknown, doc: unknown) => unknown;

/** The fence table, the same in every dialect. */
export const CHECKPOINTS_TABLE = 'inlet_checkpoints';
