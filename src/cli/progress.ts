import type { BrokerClient } from '../client/broker-client.js';

/**
 * A one-line progress bar on stderr for backfills: history bytes read of the total that
 * existed when the read began, rate and ETA; then "tailing" once history is done.
 */
export class Progress {
  private read = 0;
  private readonly started = Date.now();
  private readonly timer: NodeJS.Timeout;

  private constructor(private readonly total: number) {
    this.timer = setInterval(() => this.render(), 250);
    this.timer.unref();
  }

  static async start(client: BrokerClient, which: { journal?: string; selector?: string }, offset: number | 'now'): Promise<Progress> {
    const journals = which.journal !== undefined ? [{ writeHead: (await client.head(which.journal)).writeHead }] : await client.listJournals(which.selector);
    const from = offset === 'now' ? Infinity : offset;
    const total = journals.reduce((n, j) => n + Math.max(0, j.writeHead - Math.min(from, j.writeHead)), 0);
    return new Progress(total);
  }

  advance(_journal: string, bytes: number): void {
    this.read += bytes;
  }

  private render(): void {
    const secs = (Date.now() - this.started) / 1000;
    const rate = this.read / Math.max(secs, 0.001);
    if (this.read >= this.total) {
      process.stderr.write(`\r\x1b[2Khistory done: ${mb(this.total)} in ${secs.toFixed(1)}s (${mb(rate)}/s); tailing`);
      return;
    }
    const frac = this.total > 0 ? this.read / this.total : 1;
    const width = 30;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
    const eta = rate > 0 ? (this.total - this.read) / rate : Infinity;
    process.stderr.write(`\r\x1b[2K${bar} ${(frac * 100).toFixed(1)}% ${mb(this.read)} / ${mb(this.total)}  ${mb(rate)}/s  ETA ${Number.isFinite(eta) ? `${eta.toFixed(0)}s` : '?'}`);
  }

  stop(): void {
    clearInterval(this.timer);
    this.render();
    process.stderr.write('\n');
  }
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

/**
 * What a load (`inlet append`, `inlet ingest`) has made durable: a progress line on stderr
 * when it is a terminal, and the words for its summary or its interruption.
 */
export class LoadProgress {
  /** Input bytes, documents and lines durable so far: every input line up to `lines` is committed. */
  bytes = 0;
  docs = 0;
  lines = 0;
  private readonly started = Date.now();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(quiet: boolean) {
    if (!quiet && process.stderr.isTTY) {
      this.timer = setInterval(() => process.stderr.write(`\r\x1b[2K${this.describe()}`), 250);
      this.timer.unref();
    }
  }

  /** Records one committed batch of `bytes` and `docs` spanning input lines up to `throughLine`. */
  commit(bytes: number, docs: number, throughLine: number): void {
    this.bytes += bytes;
    this.docs += docs;
    this.lines = throughLine;
  }

  /** `1.2 MB, 5000 documents in 0.8s (1.5 MB/s, 6250 documents/s)`. */
  describe(): string {
    const secs = Math.max((Date.now() - this.started) / 1000, 0.001);
    return `${mb(this.bytes)}, ${this.docs} documents in ${secs.toFixed(1)}s (${mb(this.bytes / secs)}/s, ${Math.round(this.docs / secs)} documents/s)`;
  }

  /** Clears the progress line. */
  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    process.stderr.write('\r\x1b[2K');
  }
}
