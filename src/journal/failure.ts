import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InletError } from '../errors.js';
import { writeFileAtomic } from './fsutil.js';

/**
 * Written beside a journal's files when recovery could not keep all its acknowledged bytes.
 * While it exists the journal stays failed across restarts: its damaged spool was moved
 * aside, so a later start must not take what is left for the whole journal. An operator who
 * has dealt with the damage removes this file (or the journal's folder) to bring it back.
 */
export const FAILED_FILE = '@failed.json';

/** The JOURNAL_FAILED error of journal `name`, saying why and what the operator can do. */
export function journalFailed(name: string, reason: string, details?: Record<string, unknown>): InletError {
  return new InletError('JOURNAL_FAILED', `journal ${name} failed recovery and is not served: ${reason}`, details ? { details } : undefined);
}

/** Records a journal's failure durably, so that it stays failed after a restart. */
export async function recordFailure(dir: string, err: InletError): Promise<void> {
  await writeFileAtomic(join(dir, FAILED_FILE), JSON.stringify({ at: new Date().toISOString(), message: err.message, ...err.details }, null, 2));
}

/** The failure recorded in `dir` by an earlier start, if any. */
export async function readFailure(dir: string): Promise<InletError | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, FAILED_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let recorded: { at?: string; message?: string } = {};
  try {
    recorded = JSON.parse(text) as typeof recorded;
  } catch {
    // The record itself is damaged: the journal stays failed all the same.
  }
  const message = recorded.message ?? `${FAILED_FILE} is unreadable`;
  return new InletError('JOURNAL_FAILED', `${message} (recorded ${recorded.at ?? 'earlier'}; remove ${FAILED_FILE} from its folder once the damage is dealt with)`);
}
