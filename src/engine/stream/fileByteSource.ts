/** A finished, verified file as a byte source for the loopback server (a cached artifact). */
import { constants, createReadStream, openSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ByteSource } from './loopbackServer';

export function fileByteSource(file: string): ByteSource {
  return {
    name: path.basename(file),
    size: async () => (await fs.stat(file)).size,
    open: (start, end) => {
      // O_NOFOLLOW: a symlink planted in the folder after the path check is never followed.
      const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
      return createReadStream('', { fd, start, end: end - 1, autoClose: true });
    },
  };
}
