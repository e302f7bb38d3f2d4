import { readFile } from 'node:fs/promises';
import { InletError } from '../errors.js';
import { writeFileAtomic } from '../journal/fsutil.js';
import type { ConsumerCheckpoint, Store } from './types.js';

/**
 * A `Store` in one JSON file: the application's `state` (any JSON value, staged by mutating
 * or replacing `state`) and the checkpoint. A commit replaces the file atomically and durably
 * (write a temporary file, fsync, rename, fsync the directory), so a crash leaves the previous
 * commit or this one, never a mix. Fit for small state: every commit writes all of it.
 */
export class FileStore<S> implements Store {
  private committed: ConsumerCheckpoint | undefined;

  private constructor(
    readonly path: string,
    public state: S,
  ) {}

  /** Opens the store at `path`: its last commit, or `initial` state when the file does not exist. */
  static async open<S>(path: string, initial: S): Promise<FileStore<S>> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new FileStore(path, initial);
      throw new InletError('IO_ERROR', `consumer store ${path}: ${(err as Error).message}`, { cause: err });
    }
    let saved: { state: S; checkpoint: ConsumerCheckpoint };
    try {
      saved = JSON.parse(text) as { state: S; checkpoint: ConsumerCheckpoint };
    } catch (err) {
      throw new InletError('INVALID_CONTENT', `consumer store ${path} is not JSON: ${(err as Error).message}`, { cause: err });
    }
    const store = new FileStore(path, saved.state);
    store.committed = saved.checkpoint;
    return store;
  }

  async restoreCheckpoint(): Promise<ConsumerCheckpoint | undefined> {
    return this.committed;
  }

  async commit(ready: Promise<ConsumerCheckpoint>): Promise<void> {
    // The state as of now: the next transaction may change it while this one waits.
    const state = JSON.stringify(this.state) as string | undefined;
    const checkpoint = await ready;
    await writeFileAtomic(this.path, `{${state === undefined ? '' : `"state":${state},`}"checkpoint":${JSON.stringify(checkpoint)}}`);
    this.committed = checkpoint;
  }
}
