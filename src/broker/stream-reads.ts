import type { Fragment } from '../fragments/fragment-index.js';
import type { Journal } from '../journal/journal.js';
import type { JournalRegistry } from '../journal/registry.js';
import { isLineOriented } from '../journal/spec.js';
import type { Lake } from './lake.js';

/**
 * Reads of journals' committed bytes wherever they are: the local spools, fragments in the
 * store (history the broker no longer holds), or a fork's source below the fork point.
 */
export class StreamReads {
  constructor(
    private readonly registry: JournalRegistry,
    private readonly lake: Lake,
  ) {}

  /** Reads committed bytes of `name` from `offset`, following fork ancestry below the fork point. */
  async readAt(name: string, offset: number, max: number): Promise<Buffer> {
    const j = this.registry.require(name);
    const st = this.registry.state(name);
    if (st.forkedFrom !== undefined && offset < (st.forkOffset ?? 0)) {
      return this.readAt(st.forkedFrom, offset, Math.min(max, st.forkOffset! - offset));
    }
    if (offset < j.localBegin) return this.readPersisted(j, offset, Math.min(max, j.localBegin - offset));
    return j.read(offset, max);
  }

  /**
   * Where `offset` of `journal` is read from: a persisted fragment (history no longer on local
   * disk), or undefined when the broker holds it locally (or in a fork's source).
   */
  persistedAt(journal: Journal, offset: number): Fragment | undefined {
    const st = this.registry.state(journal.name);
    if (st.forkedFrom !== undefined && offset < (st.forkOffset ?? 0)) return undefined;
    return offset < journal.localBegin ? this.lake.fragmentAt(journal, offset) : undefined;
  }

  /** Up to `max` bytes from `offset`, out of the fragment in the store that holds them. */
  private async readPersisted(journal: Journal, offset: number, max: number): Promise<Buffer> {
    const stream = await this.lake.read(this.lake.fragmentAt(journal, offset), offset);
    const parts: Buffer[] = [];
    let got = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        parts.push(chunk);
        got += chunk.length;
        if (got >= max) break;
      }
    } finally {
      stream.destroy();
    }
    const all = Buffer.concat(parts);
    const out = all.length > max ? all.subarray(0, max) : all;
    this.lake.historyRead(out.length);
    return out;
  }

  /**
   * Reads up to `max` committed bytes from `offset` toward `head`, across a fork point.
   * Line-oriented journals are cut after the last whole line (a longer line is read whole).
   */
  async readChunk(journal: Journal, offset: number, max: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let pos = offset;
    let want = max;
    const lines = isLineOriented(journal.spec);
    for (;;) {
      while (pos < journal.head && pos - offset < want) {
        const part = await this.readAt(journal.name, pos, want - (pos - offset));
        if (part.length === 0) break;
        parts.push(part);
        pos += part.length;
      }
      const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (!lines || data.length === 0 || data[data.length - 1] === 10) return data;
      const nl = data.lastIndexOf(10);
      if (nl >= 0) return data.subarray(0, nl + 1);
      if (pos >= journal.head) return data;
      want *= 2;
    }
  }
}
