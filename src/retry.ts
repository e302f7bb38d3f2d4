import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The one retry policy of inlet: exponential backoff with full jitter. Attempt `n` (from 1)
 * waits a random time in `[0, min(maxMs, baseMs · 2^(n-1))]`, so many clients that failed
 * together do not retry together. Callers differ only in when they give up.
 */
export interface RetryPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 100, maxMs: 10_000 };

/** How long to wait before retrying after failed attempt `attempt` (1-based). */
export function backoff(attempt: number, policy: RetryPolicy = DEFAULT_RETRY): number {
  return Math.round(Math.random() * Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt - 1, 30)));
}

export interface RetryOptions {
  policy?: RetryPolicy;
  /** Whether failed attempt `attempt` may be retried; the default retries everything. */
  retryable?: (err: unknown, attempt: number) => boolean;
  /** Called before each wait, with the delay about to be waited. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Waits hold the process open unless false (background work passes false). */
  ref?: boolean;
}

/**
 * Runs `fn` until it resolves, backing off between attempts. Rejects with the error of the
 * first attempt that `retryable` refuses; never gives up otherwise.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.retryable && !opts.retryable(err, attempt)) throw err;
      const delay = backoff(attempt, opts.policy);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, undefined, { ref: opts.ref ?? true });
    }
  }
}
