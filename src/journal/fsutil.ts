import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Makes a directory's entries (new or renamed files) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `path` with `content` atomically and durably (write, fsync, rename, fsync dir). */
export async function writeFileAtomic(path: string, content: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    // A full disk must not keep the half-written copy taking what space is left.
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(path));
}
