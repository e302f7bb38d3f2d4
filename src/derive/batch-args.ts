/**
 * The argument lists of a batch, one per source document: `[sources[i], ...rest[i]]`, or
 * `[sources[i], ...shared]` when every document takes the same values after its source (a
 * publish lambda's fixed registers), or `[sources[i]]`. Flat, so that the worker's message
 * copies less and the caller builds no list per document.
 */
export interface BatchArgs {
  sources: unknown[];
  rest?: unknown[][];
  shared?: unknown[];
  /** The sources are given as their JSON text (the line read), decoded where the lambda runs. */
  sourceText: boolean;
}

/** The argument list of document `i` of a batch. */
export function argsAt(args: BatchArgs, i: number, source: unknown = args.sources[i]): unknown[] {
  const after = args.rest ? args.rest[i]! : args.shared;
  return after ? [source, ...after] : [source];
}
