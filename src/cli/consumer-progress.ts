/** What the progress line shows: each consumer's name, state and bytes behind its sources. */
export interface ConsumerProgress {
  kind: 'derivation' | 'materialization';
  name: string;
  /** Behind its sources (bytes not yet committed as read). */
  lagBytes: number;
  /** Documents read (derivations) or rows written (materializations) so far. */
  done: number;
  failed?: string;
}

export interface ProgressOptions {
  /** How often to look; default 500 ms. */
  everyMs?: number;
  /** Redraws one line in place (a terminal); otherwise prints a line at most every `lineEveryMs`. */
  tty: boolean;
  lineEveryMs?: number;
  /** A catch-up shorter than this gets no closing line (it showed nothing). Default 1000 ms. */
  minCatchUpMs?: number;
  write: (text: string) => void;
}

/**
 * Shows how far the consumers of `develop` are behind while they catch up (a derivation over a
 * collection with history, a new table), and one line when each has caught up. Silent while
 * everything is live. Returns a function that stops it.
 */
export function reportProgress(poll: () => Promise<ConsumerProgress[]>, opts: ProgressOptions): () => void {
  /** Per consumer: the most it was behind during this catch-up (the 0% point), and since when. */
  const catchingUp = new Map<string, { maxLag: number; since: number; from: number }>();
  const failed = new Set<string>();
  let drawn = false;
  let lastLine = 0;
  let stopped = false;
  let busy = false;
  const tick = async () => {
    if (busy || stopped) return;
    busy = true;
    try {
      const all = await poll();
      if (stopped) return;
      const parts: string[] = [];
      const lines: string[] = [];
      for (const c of all) {
        const id = `${c.kind} ${c.name}`;
        if (c.failed !== undefined) {
          if (!failed.has(id)) lines.push(`${id} failed: ${c.failed}`);
          failed.add(id);
          catchingUp.delete(id);
          continue;
        }
        failed.delete(id);
        const seen = catchingUp.get(id);
        if (c.lagBytes > 0) {
          const entry = seen ?? { maxLag: 0, since: Date.now(), from: c.done };
          entry.maxLag = Math.max(entry.maxLag, c.lagBytes);
          catchingUp.set(id, entry);
          const pct = Math.floor((100 * (entry.maxLag - c.lagBytes)) / entry.maxLag);
          parts.push(`${c.name} ${pct}% (${formatBytes(c.lagBytes)} behind, ${c.done.toLocaleString('en-US')} ${c.kind === 'derivation' ? 'docs read' : 'rows'})`);
        } else if (seen && Date.now() - seen.since >= (opts.minCatchUpMs ?? 1000)) {
          // Only catch-ups long enough to have shown a line get a closing one.
          const secs = (Date.now() - seen.since) / 1000;
          lines.push(`${id} caught up: ${(c.done - seen.from).toLocaleString('en-US')} ${c.kind === 'derivation' ? 'documents read' : 'rows written'} in ${secs.toFixed(1)} s, now live`);
          catchingUp.delete(id);
        } else {
          catchingUp.delete(id);
        }
      }
      const status = parts.length > 0 ? `catching up: ${parts.join(' · ')}` : '';
      if (opts.tty) {
        // Clear the line drawn last, print what ended, then draw the current one.
        if (drawn) opts.write('\r\x1b[2K');
        for (const l of lines) opts.write(`${l}\n`);
        drawn = status !== '';
        if (drawn) opts.write(status);
      } else {
        for (const l of lines) opts.write(`${l}\n`);
        const every = opts.lineEveryMs ?? 5000;
        if (status && Date.now() - lastLine >= every) {
          opts.write(`${status}\n`);
          lastLine = Date.now();
        }
      }
    } catch {
      // A poll that fails (the broker stopping) shows nothing; the next one tries again.
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), opts.everyMs ?? 500);
  timer.unref();
  void tick();
  return () => {
    stopped = true;
    clearInterval(timer);
    if (drawn && opts.tty) opts.write('\r\x1b[2K');
  };
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
