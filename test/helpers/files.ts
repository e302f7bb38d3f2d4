import { open } from 'node:fs/promises';

/** Flips one bit of the byte at `at` in place, as damage on disk would. */
export async function flipByte(path: string, at: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const one = Buffer.alloc(1);
    await fh.read(one, 0, 1, at);
    one[0] ^= 0x20;
    await fh.write(one, 0, 1, at);
  } finally {
    await fh.close();
  }
}
