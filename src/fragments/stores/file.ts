import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InletError } from '../../errors.js';
import type { FragmentStore, ObjectCheck, StoredObject } from './types.js';
import { fsyncDir } from '../../journal/fsutil.js';

/** A folder as a store (`file:///var/lib/inlet/lake/`): the embedded default, and what query engines read locally. */
export class FileStore implements FragmentStore {
  readonly root: string;

  constructor(readonly url: string) {
    this.root = fileURLToPath(url);
  }

  async put(key: string, file: string): Promise<void> {
    await this.atomically(key, (tmp) => copyFile(file, tmp));
  }

  async confirm(key: string, check: ObjectCheck): Promise<boolean> {
    const path = this.pathOf(key);
    const s = await stat(path).catch(() => null);
    if (!s || s.size !== check.size) return false;
    const md5 = createHash('md5');
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) md5.update(chunk as Buffer);
    return md5.digest('base64') === check.md5;
  }

  async putBytes(key: string, data: Buffer): Promise<void> {
    await this.atomically(key, (tmp) => writeFile(tmp, data));
  }

  /** Writes to a temporary name, fsyncs, renames: readers never see a partial object. */
  private async atomically(key: string, write: (tmp: string) => Promise<void>): Promise<void> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true });
    const tmp = join(dirname(path), `.${Math.random().toString(36).slice(2)}.tmp`);
    try {
      await write(tmp);
      const fh = await open(tmp, 'r');
      await fh.sync().finally(() => fh.close());
      await rename(tmp, path);
      await fsyncDir(dirname(path));
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    // Walk only the deepest folder the prefix names, then filter.
    const dir = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const out: StoredObject[] = [];
    const walk = async (d: string): Promise<void> => {
      // A missing folder is an empty listing; any other error must not pass for one.
      const entries = await readdir(d, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return [];
        throw err;
      });
      for (const e of entries) {
        if (e.name.startsWith('.')) continue; // in-progress uploads
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) {
          const key = relative(this.root, p).split(sep).join('/');
          if (!key.startsWith(prefix)) continue;
          const s = await stat(p).catch(() => null);
          if (s) out.push({ key, size: s.size, modified: s.mtime });
        }
      }
    };
    await walk(this.pathOf(dir));
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async open(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const path = this.pathOf(key);
    const s = await stat(path).catch(() => null);
    if (!s) throw new InletError('FRAGMENT_NOT_FOUND', `fragment ${this.location(key)} does not exist`);
    return createReadStream(path, range ? { start: range.start, end: range.end - 1 } : {});
  }

  async presign(key: string): Promise<string> {
    return pathToFileURL(this.pathOf(key)).href;
  }

  async delete(key: string): Promise<void> {
    await unlink(this.pathOf(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  location(key: string): string {
    return this.pathOf(key);
  }

  private pathOf(key: string): string {
    return join(this.root, ...key.split('/').filter(Boolean));
  }
}
