import { InletError } from '../errors.js';
import type { LoadProgress } from './progress.js';

/**
 * Runs a load over stdin that Ctrl-C stops between batches: the first SIGINT ends the input (the
 * load then commits what it holds and returns), a second one exits at once. Resolves true when
 * the load was interrupted.
 */
export async function interruptible(load: (input: AsyncIterable<Buffer>) => Promise<void>): Promise<boolean> {
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stdin.destroy();
  };
  process.on('SIGINT', onSignal);
  async function* input(): AsyncIterable<Buffer> {
    try {
      for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
        if (interrupted) return;
        yield chunk;
      }
    } catch (err) {
      // A destroyed stdin ends the input, it is no failure.
      if (!interrupted) throw err;
    }
  }
  try {
    await load(input());
  } finally {
    process.off('SIGINT', onSignal);
  }
  return interrupted;
}

/** `committed: input lines 1-N (D documents, B bytes); <how to resume>`. */
export function committedNote(progress: LoadProgress, resume: string): string {
  const next = String(progress.lines + 1);
  const through = progress.lines > 0 ? `input lines 1-${progress.lines}` : 'nothing';
  return `committed: ${through} (${progress.docs} documents, ${progress.bytes} bytes); ${resume.replaceAll('{next}', next)}`;
}

/** The error of a load that failed midway, saying what it committed and how to resume. */
export function loadFailure(err: unknown, progress: LoadProgress, resume: string): InletError {
  const code = err instanceof InletError ? err.code : 'INTERNAL';
  return new InletError(code, `${(err as Error)?.message ?? String(err)}\n${committedNote(progress, resume)}`, { cause: err });
}

/** Reports an interrupted load on stderr and sets exit code 130, as shells expect after Ctrl-C. */
export function reportInterrupted(progress: LoadProgress, resume: string): void {
  process.stderr.write(`inlet: interrupted\n${committedNote(progress, resume)}\n`);
  process.exitCode = 130;
}
