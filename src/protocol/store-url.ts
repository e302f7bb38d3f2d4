import { InletError } from './errors.js';

/**
 * Checks a store URL names a store this process can open: `file:///absolute/path/` (no host but
 * `localhost`) or `s3://bucket/prefix/?…`. Throws INVALID_SPEC naming `field`; never a TypeError
 * later, when a fragment is written (regression: a spec naming `file://otherhost/` crashed the
 * broker at every start).
 */
export function checkStoreUrl(url: string, field: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InletError('INVALID_SPEC', `${field}: ${JSON.stringify(url)} is not a URL (use file:///path/ or s3://bucket/prefix/)`);
  }
  if (u.protocol === 'file:') {
    if (u.hostname !== '' && u.hostname !== 'localhost') {
      throw new InletError('INVALID_SPEC', `${field}: ${url} names host ${u.hostname}; a file:// store is a local folder (file:///path/)`);
    }
    if (u.search || u.hash || /%2f/i.test(u.pathname)) throw new InletError('INVALID_SPEC', `${field}: ${url} must be a plain folder path`);
  } else if (u.protocol === 's3:') {
    if (!u.hostname) throw new InletError('INVALID_SPEC', `${field}: ${url} names no bucket (s3://bucket/prefix/)`);
  } else {
    throw new InletError('INVALID_SPEC', `${field}: ${url}: unsupported scheme (use file:// or s3://)`);
  }
}

/** The form store URLs are compared and opened in: a folder or prefix ends with `/`. */
export function normalStoreUrl(url: string): string {
  return url.startsWith('file:') && !url.endsWith('/') ? `${url}/` : url;
}

/** True when two store URLs name the same store. */
export function sameStoreUrl(a: string, b: string): boolean {
  return normalStoreUrl(a) === normalStoreUrl(b);
}
