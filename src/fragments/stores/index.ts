import { FileStore } from './file.js';
import { LazyStore } from './lazy.js';
import { parseS3Url, s3Location } from './s3-url.js';
import type { FragmentStore } from './types.js';
import { checkStoreUrl, normalStoreUrl } from '../../protocol/store-url.js';

export type { FragmentStore, ObjectCheck, StoredObject } from './types.js';
export { checkStoreUrl, sameStoreUrl } from '../../protocol/store-url.js';

const opened = new Map<string, FragmentStore>();

/**
 * The store for a URL (`file:///…/` or `s3://bucket/prefix/?…`); one instance per URL per process.
 * A scheme's SDK loads at the store's first use, not before. Throws INVALID_SPEC for a URL no
 * store can open (see checkStoreUrl).
 */
export function openStore(url: string): FragmentStore {
  let store = opened.get(url);
  if (!store) {
    checkStoreUrl(url, 'store');
    if (url.startsWith('file:')) store = new FileStore(normalStoreUrl(url));
    else {
      const { bucket, prefix } = parseS3Url(url);
      store = new LazyStore(url, async () => new (await import('./s3.js')).S3Store(url), (key) => s3Location(bucket, prefix, key));
    }
    opened.set(url, store);
  }
  return store;
}
