import { InletError } from '../../errors.js';
import { FileStore } from './file.js';
import { LazyStore } from './lazy.js';
import { parseS3Url, s3Location } from './s3-url.js';
import type { FragmentStore } from './types.js';

export type { FragmentStore, StoredObject } from './types.js';

const opened = new Map<string, FragmentStore>();

/**
 * The store for a URL (`file:///…/` or `s3://bucket/prefix/?…`); one instance per URL per process.
 * A scheme's SDK loads at the store's first use, not before.
 */
export function openStore(url: string): FragmentStore {
  let store = opened.get(url);
  if (!store) {
    const scheme = url.slice(0, url.indexOf(':'));
    if (scheme === 'file') store = new FileStore(url.endsWith('/') ? url : `${url}/`);
    else if (scheme === 's3') {
      const { bucket, prefix } = parseS3Url(url);
      store = new LazyStore(url, async () => new (await import('./s3.js')).S3Store(url), (key) => s3Location(bucket, prefix, key));
    } else throw new InletError('INVALID_SPEC', `store ${url}: unsupported scheme (use file:// or s3://)`);
    opened.set(url, store);
  }
  return store;
}
