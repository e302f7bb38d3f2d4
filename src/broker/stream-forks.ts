import { InletError } from '../errors.js';
import type { JournalRegistry } from '../journal/registry.js';
import { isLineOriented, mediaType, type JournalSpec } from '../journal/spec.js';
import type { StreamState } from '../journal/stream-state.js';
import type { StreamLifetime } from './stream-lifetime.js';
import type { StreamReads } from './stream-reads.js';
import type { CreateOptions } from './streams.js';

/** Throws JOURNAL_EXISTS unless a re-creation of `name` asks for the configuration it has. */
export function checkSameConfig(name: string, spec: JournalSpec, st: StreamState, want: JournalSpec, opts: CreateOptions): void {
  const type = (t: string | undefined) => mediaType(t ?? 'application/octet-stream');
  const same =
    (opts.contentType === undefined && opts.forkedFrom !== undefined
      ? true
      : type(opts.contentType ?? want.contentType) === type(spec.contentType)) &&
    opts.ttlSeconds === st.ttlSeconds &&
    opts.expiresAt === st.expiresAt &&
    (opts.closed ?? false) === (st.closed ?? false) &&
    opts.forkedFrom === st.forkedFrom &&
    (opts.forkOffset === undefined || opts.forkOffset === st.forkOffset) &&
    (opts.forkSubOffset ?? 0) === (st.forkSubOffset ?? 0);
  if (!same) {
    throw new InletError('JOURNAL_EXISTS', `journal ${name} already exists with a different configuration`);
  }
}

/** Validates a fork's source and offsets, and computes its inherited settings and prefix. */
export async function planFork(
  streams: { registry: JournalRegistry; lifetime: StreamLifetime; reads: StreamReads },
  opts: CreateOptions,
): Promise<{ state: Partial<StreamState>; contentType: string; prefix?: Buffer }> {
  const { registry } = streams;
  const sourceName = opts.forkedFrom!;
  const source = registry.get(sourceName);
  if (!source || (streams.lifetime.expired(sourceName, registry.state(sourceName)) && streams.lifetime.refCount(sourceName) === 0)) {
    throw new InletError('JOURNAL_NOT_FOUND', `fork source ${sourceName} does not exist`);
  }
  const sst = registry.state(sourceName);
  if (sst.softDeleted) {
    throw new InletError('JOURNAL_EXISTS', `fork source ${sourceName} was deleted but still has forks`);
  }
  if (opts.contentType !== undefined && mediaType(opts.contentType) !== mediaType(source.spec.contentType)) {
    throw new InletError('JOURNAL_EXISTS', `content type ${opts.contentType} does not match the fork source's ${source.spec.contentType}`);
  }
  const forkOffset = opts.forkOffset ?? source.head;
  if (forkOffset < 0 || forkOffset > source.head) {
    throw new InletError('INVALID_OFFSET', `fork offset ${forkOffset} is beyond the source's write head ${source.head}`);
  }
  let prefix: Buffer | undefined;
  if (opts.forkSubOffset && opts.forkSubOffset > 0) {
    prefix = await subOffsetPrefix(streams, sourceName, forkOffset, opts.forkSubOffset, isLineOriented(source.spec));
  }
  const lifetime =
    opts.ttlSeconds !== undefined
      ? { ttlSeconds: opts.ttlSeconds }
      : opts.expiresAt !== undefined
        ? { expiresAt: opts.expiresAt }
        : sst.ttlSeconds !== undefined
          ? { ttlSeconds: sst.ttlSeconds }
          : sst.expiresAt !== undefined
            ? { expiresAt: sst.expiresAt }
            : {};
  return {
    state: {
      ...lifetime,
      forkedFrom: sourceName,
      forkOffset,
      ...(opts.forkSubOffset ? { forkSubOffset: opts.forkSubOffset } : {}),
    },
    contentType: source.spec.contentType,
    prefix,
  };
}

/** The source bytes a sub-offset reaches past the fork offset: messages for line journals, else bytes. */
async function subOffsetPrefix(
  streams: { registry: JournalRegistry; reads: StreamReads },
  source: string,
  offset: number,
  sub: number,
  lines: boolean,
): Promise<Buffer> {
  const j = streams.registry.require(source);
  const available = await streams.reads.readAt(source, offset, j.head - offset);
  if (!lines) {
    if (sub > available.length) throw new InletError('INVALID_OFFSET', `invalid fork sub-offset ${sub}: only ${available.length} bytes follow the fork offset`);
    return available.subarray(0, sub);
  }
  let at = 0;
  for (let i = 0; i < sub; i++) {
    const nl = available.indexOf(10, at);
    if (nl < 0) throw new InletError('INVALID_OFFSET', `invalid fork sub-offset ${sub}: only ${i} messages follow the fork offset`);
    at = nl + 1;
  }
  return available.subarray(0, at);
}
