import type { FragmentName } from './naming.js';

/** A fragment found in a store. */
export interface Fragment extends FragmentName {
  /** URL of the store holding it. */
  readonly store: string;
  /** Key relative to the store's prefix. */
  readonly key: string;
  /** Compressed size in bytes. */
  readonly size: number;
  readonly modified: Date;
}

/**
 * The persisted fragments of one journal as a sorted cover of offsets. Fragments wholly
 * inside another (e.g. written twice by two brokers) are dropped; partial overlaps are
 * kept and reads pick the fragment reaching furthest. Gaps are reported, never bridged.
 */
export class FragmentIndex {
  private cover: Fragment[] = [];
  private holes: [number, number][] = [];
  // Fragments added by this broker, by the version that added them, until a listing includes them.
  private version = 0;
  private readonly added = new Map<Fragment, number>();

  /** Call before listing the stores; pass the result to `replace`. */
  get currentVersion(): number {
    return this.version;
  }

  /**
   * Replaces the index with a store listing that began at version `since`. Fragments added
   * after that are kept: the listing may have been taken before they were uploaded.
   */
  replace(fragments: Iterable<Fragment>, since = this.version): void {
    for (const [f, v] of this.added) if (v <= since) this.added.delete(f);
    this.rebuild([...fragments, ...this.added.keys()]);
  }

  /** Adds a fragment just persisted by this broker. */
  add(f: Fragment): void {
    this.added.set(f, ++this.version);
    this.rebuild([...this.cover, f]);
  }

  private rebuild(all: Fragment[]): void {
    all.sort((a, b) => a.begin - b.begin || b.end - a.end);
    const cover: Fragment[] = [];
    const holes: [number, number][] = [];
    let reach = -1;
    for (const f of all) {
      if (f.end <= reach || f.end === f.begin) continue; // wholly covered (or empty)
      if (reach >= 0 && f.begin > reach) holes.push([reach, f.begin]);
      cover.push(f);
      reach = f.end;
    }
    this.cover = cover;
    this.holes = holes;
  }

  get fragments(): readonly Fragment[] {
    return this.cover;
  }

  /** Offset ranges inside the persisted history that no fragment covers. */
  get gaps(): readonly [number, number][] {
    return this.holes;
  }

  /** Where persisted history begins and ends (both 0 when there is none). */
  get begin(): number {
    return this.cover[0]?.begin ?? 0;
  }

  get end(): number {
    return this.cover.at(-1)?.end ?? 0;
  }

  /** The fragment holding `offset` that reaches furthest, if any. */
  find(offset: number): Fragment | undefined {
    let lo = 0;
    let hi = this.cover.length - 1;
    let found: Fragment | undefined;
    // Binary search for the last fragment beginning at or before offset, then prefer reach.
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.cover[mid]!.begin <= offset) {
        found = this.cover[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found && offset < found.end ? found : undefined;
  }

  /** The first fragment beginning after `offset` (to report how far a gap reaches). */
  next(offset: number): Fragment | undefined {
    return this.cover.find((f) => f.begin > offset);
  }
}
