import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { FragmentInfo } from '../protocol/fragments.js';
import { InletError } from '../errors.js';
import { readVerified } from '../fragments/fragment-reader.js';

/**
 * True when a fragment URL lies under one of `stores`, URL prefixes a reader was configured to
 * read directly (`file:///var/lake/`, `https://bucket.s3.eu-west-1.amazonaws.com/lake/`). Both
 * sides are compared as parsed URLs, so `..` and %-escapes cannot climb out of a prefix, and a
 * prefix matches whole path segments only. A URL from the broker is never trusted on its own:
 * a broker that is not ours could name `file:///etc/shadow`.
 */
export function directAllowed(url: string | undefined, stores: readonly string[]): boolean {
  if (!url) return false;
  let href: string;
  try {
    const u = new URL(url);
    if (u.protocol === 'file:' && u.host !== '') return false;
    href = u.href;
  } catch {
    return false;
  }
  return stores.some((prefix) => {
    try {
      const p = new URL(prefix).href;
      return href.startsWith(p.endsWith('/') ? p : `${p}/`);
    } catch {
      return false;
    }
  });
}

/**
 * Opens a fragment straight from its store by URL (a `file://` path or a presigned `https://`
 * URL), decompresses and verifies it against its name (FRAGMENT_CORRUPT otherwise; see
 * readVerified), and skips to `from`. Callers check the URL with directAllowed first.
 */
export async function openFragment(f: FragmentInfo, from: number, signal?: AbortSignal): Promise<Readable> {
  const url = f.url;
  if (!url) throw new InletError('BAD_REQUEST', `fragment [${f.begin}, ${f.end}) has no URL for direct reads`);
  return readVerified(() => openUrl(url, f.location, signal), f, from, f.location);
}

async function openUrl(url: string, location: string, signal?: AbortSignal): Promise<Readable> {
  if (url.startsWith('file:')) {
    const raw = createReadStream(fileURLToPath(url), { highWaterMark: 1 << 20 });
    await new Promise<void>((resolve, reject) => {
      raw.once('open', () => resolve());
      raw.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new InletError('FRAGMENT_NOT_FOUND', `fragment ${location} is gone (pruned?)`, { cause: err }) : err),
      );
    });
    return raw;
  }
  const res = await request(url, { signal, headersTimeout: 30_000, bodyTimeout: 60_000 });
  if (res.statusCode !== 200) {
    await res.body.dump();
    const code = res.statusCode === 404 ? 'FRAGMENT_NOT_FOUND' : 'STORE_UNAVAILABLE';
    throw new InletError(code, `fragment ${location}: HTTP ${res.statusCode}${res.statusCode === 403 ? ' (presigned URL expired?)' : ''}`);
  }
  return res.body as unknown as Readable;
}
