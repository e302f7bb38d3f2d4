import { createRequire } from 'node:module';
import { PassThrough, type Transform } from 'node:stream';
import { constants, createGunzip, createGzip } from 'node:zlib';
import { InletError } from '../errors.js';
import type { Codec } from '../journal/spec.js';

/** gzip level 1: every engine reads it, and it keeps pace with ingest (~270 MB/s per core here). */
const GZIP_LEVEL = 1;
/** zstd level 1: ~490 MB/s per core here, with a better ratio than gzip level 1. */
const ZSTD_LEVEL = 1;

interface ZstdNapi {
  CompressStream: new (params?: { compressionLevel?: number; checksumFlag?: boolean }) => Transform;
  DecompressStream: new () => Transform;
}

let zstd: ZstdNapi | undefined;

/** The native zstd binding, loaded on first use so journals without zstd never need it. */
function zstdNapi(): ZstdNapi {
  if (!zstd) {
    try {
      zstd = createRequire(import.meta.url)('zstd-napi') as ZstdNapi;
    } catch (err) {
      throw new InletError(
        'INTERNAL',
        `codec zstd needs the native module zstd-napi, which is not built (${(err as Error).message.split('\n')[0]}). ` +
          'Run `npm rebuild zstd-napi` with python3, make and g++ installed, or use codec gzip.',
        { cause: err },
      );
    }
  }
  return zstd;
}

/** A stream that compresses with `codec`. */
export function compressor(codec: Codec): Transform {
  switch (codec) {
    case 'gzip':
      return createGzip({ level: GZIP_LEVEL, chunkSize: 256 * 1024 });
    case 'zstd':
      // The frame checksum lets any zstd tool catch damage, with or without the SHA-1 in the name.
      return new (zstdNapi().CompressStream)({ compressionLevel: ZSTD_LEVEL, checksumFlag: true });
    case 'none':
      return new PassThrough({ highWaterMark: 1 << 20 });
  }
}

/** A stream that decompresses `codec`. */
export function decompressor(codec: Codec): Transform {
  switch (codec) {
    case 'gzip':
      return createGunzip({ chunkSize: 256 * 1024, finishFlush: constants.Z_SYNC_FLUSH });
    case 'zstd':
      return new (zstdNapi().DecompressStream)();
    case 'none':
      return new PassThrough({ highWaterMark: 1 << 20 });
  }
}
