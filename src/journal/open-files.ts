/** Something holding files it can close when idle and reopen on its next use. */
export interface Reopenable {
  /** True while an operation uses its files. */
  readonly busy: boolean;
  closeFiles(): void;
}

/**
 * Caps how many spools keep their files open at once, so that many idle journals cost no
 * file descriptors (10,000 journals with one append each used to hold 20,000 and hit EMFILE,
 * failing even health checks). Past the cap, the least recently used idle spools close their
 * files; they reopen on their next read or append. Busy spools are never closed, so the cap
 * can be exceeded briefly by as many spools as have operations in flight.
 */
export class OpenFiles {
  // A Set iterates in insertion order: re-inserting on use keeps it least recently used first.
  private readonly open = new Set<Reopenable>();

  constructor(readonly max: number) {}

  /** How many holders have their files open. */
  get size(): number {
    return this.open.size;
  }

  /** Notes that `holder` has its files open and just used them. */
  used(holder: Reopenable): void {
    this.open.delete(holder);
    this.open.add(holder);
    if (this.open.size > this.max) this.trim();
  }

  /** Notes that `holder` closed its files. */
  closed(holder: Reopenable): void {
    this.open.delete(holder);
  }

  private trim(): void {
    for (const h of this.open) {
      if (this.open.size <= this.max) return;
      if (!h.busy) h.closeFiles();
    }
  }
}

/** For a journal opened on its own (tools, tests): no cap. */
export const UNCAPPED = (): OpenFiles => new OpenFiles(Infinity);
