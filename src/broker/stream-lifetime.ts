import { InletError } from '../errors.js';
import type { Journal } from '../journal/journal.js';
import type { JournalRegistry } from '../journal/registry.js';
import type { StreamState } from '../journal/stream-state.js';
import type { Lake } from './lake.js';

/**
 * The lifetime of journals as streams: expiry by time or TTL since last access, deletion, and
 * the forks that keep a deleted or expired source alive (hidden) until they are gone.
 */
export class StreamLifetime {
  private readonly lastAccess = new Map<string, number>();

  constructor(
    private readonly registry: JournalRegistry,
    private readonly lake: Lake,
  ) {}

  /**
   * The live journal named `name`. Throws JOURNAL_NOT_FOUND if it does not exist or
   * expired, OFFSET_GONE (410) if it was deleted while forks still read from it.
   */
  visible(name: string, touch = true): Journal {
    const j = this.registry.get(name);
    if (!j) throw this.registry.failures.get(name) ?? notFoundError(name);
    const st = this.registry.state(name);
    if (!st.softDeleted && this.expired(name, st)) {
      void this.expire(name);
      if (this.refCount(name) === 0) throw notFoundError(name);
    }
    if (this.registry.state(name).softDeleted || (this.expired(name, st) && this.refCount(name) > 0)) {
      throw new InletError('OFFSET_GONE', `journal ${name} was deleted; forks still read its history`);
    }
    if (touch) this.lastAccess.set(name, Date.now());
    return j;
  }

  /** Deletes a journal; one still read by forks is only hidden until they are gone. */
  async remove(name: string): Promise<void> {
    const st = this.registry.state(name);
    if (st.softDeleted) throw new InletError('OFFSET_GONE', `journal ${name} was already deleted`);
    if (this.refCount(name) > 0) {
      await this.registry.updateState(name, (s) => ({ ...s, softDeleted: true }));
      this.registry.require(name).notify();
      return;
    }
    await this.removeCascade(name);
  }

  private async removeCascade(name: string): Promise<void> {
    const source = this.registry.state(name).forkedFrom;
    const journal = this.registry.require(name);
    // The journal goes first (no more appends or uploads), then its fragments.
    await this.registry.remove(name);
    await this.lake.forget(journal);
    this.lastAccess.delete(name);
    if (source !== undefined && this.registry.get(source)) {
      const sst = this.registry.state(source);
      if ((sst.softDeleted || this.expired(source, sst)) && this.refCount(source) === 0) await this.removeCascade(source);
    }
  }

  /** Journals whose fork ancestry reads from `name`. */
  refCount(name: string): number {
    let n = 0;
    for (const j of this.registry.list()) if (this.registry.state(j.name).forkedFrom === name) n++;
    return n;
  }

  /** Whether the journal's expiry time or TTL (since its last access) has passed. */
  expired(name: string, st: StreamState): boolean {
    const now = Date.now();
    if (st.expiresAt !== undefined) {
      const at = Date.parse(st.expiresAt);
      if (!Number.isFinite(at) || now >= at) return true;
    }
    if (st.ttlSeconds !== undefined) {
      const last = this.lastAccess.get(name) ?? Date.parse(st.createdAt);
      if (now >= last + st.ttlSeconds * 1000) return true;
    }
    return false;
  }

  /** Removes an expired journal, or hides it while forks still read it. */
  async expire(name: string): Promise<void> {
    if (!this.registry.get(name)) return;
    if (this.refCount(name) > 0) {
      if (!this.registry.state(name).softDeleted) await this.registry.updateState(name, (s) => ({ ...s, softDeleted: true }));
      return;
    }
    await this.removeCascade(name).catch(() => undefined);
  }

  /** Records an access to `name` now, for its TTL. */
  touch(name: string): void {
    this.lastAccess.set(name, Date.now());
  }
}

function notFoundError(name: string): InletError {
  return new InletError('JOURNAL_NOT_FOUND', `journal ${name} does not exist`);
}
