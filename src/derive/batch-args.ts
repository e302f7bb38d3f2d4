/**
 * The argument lists of a batch, one per source document: `[source i, ...rest[i]]`, or
 * `[source i, ...shared]` when every document takes the same values after its source (a
 * publish lambda's fixed registers), or `[source i]`. Flat, so that the worker's message
 * copies less and the caller builds no list per document.
 */
export interface BatchArgs {
  /** How many documents. */
  count: number;
  /** The sources, decoded; empty when `sourceText` holds them. */
  sources: unknown[];
  /**
   * The sources as their lines (as read), each ending in `\n`, decoded where the lambda runs:
   * one string crosses to the worker rather than one per document.
   */
  sourceText?: string;
  rest?: unknown[][];
  shared?: unknown[];
}

/** The values after source `i` in its argument list. */
function after(args: BatchArgs, i: number): unknown[] | undefined {
  return args.rest ? args.rest[i]! : args.shared;
}

/** The argument list of document `i` of a batch, given its source. */
export function argsAt(args: BatchArgs, i: number, source: unknown = args.sources[i]): unknown[] {
  const rest = after(args, i);
  return rest ? [source, ...rest] : [source];
}

/** Calls `fn` on `self` with document `i`'s argument list, without building it for the usual lengths. */
export function callAt(fn: (...a: unknown[]) => unknown, self: unknown, args: BatchArgs, i: number, source: unknown): unknown {
  const rest = after(args, i);
  if (rest === undefined || rest.length === 0) return fn.call(self, source);
  if (rest.length === 2) return fn.call(self, source, rest[0], rest[1]);
  return fn.apply(self, [source, ...rest]);
}

/** Walks `sourceText` one line at a time: `next()` is the next line, without its `\n`. */
export class SourceLines {
  private at = 0;
  constructor(private readonly text: string) {}

  next(): string {
    const nl = this.text.indexOf('\n', this.at);
    const line = this.text.slice(this.at, nl);
    this.at = nl + 1;
    return line;
  }
}
