import { InletError } from '../../errors.js';
import { FileStore } from './file.js';
import { S3Store } from './s3.js';
import type { FragmentStore } from './types.js';

export type { FragmentStore, StoredObject } from './types.js';

const opened = new Map<string, FragmentStore>();

/** The store for a URL (`file:///…/` or `s3://bucket/prefix/?…`); one instance per URL per process. */
export function openStore(url: string): FragmentStore {
  let store = opened.get(url);
  if (!store) {
    const scheme = url.slice(0, url.indexOf(':'));
    if (scheme === 'file') store = new FileStore(url.endsWith('/') ? url : `${url}/`);
    else if (scheme === 's3') store = new S3Store(url);
    else throw new InletError('INVALID_SPEC', `store ${url}: unsupported scheme (use file:// or s3://)`);
    opened.set(url, store);
  }
  return store;
}
