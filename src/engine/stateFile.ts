/**
 * The one way to write a file in the state folder (journal, manifest sidecar): a unique temp file
 * created exclusively without following symlinks, fsynced, then renamed over the final name. A
 * rename replaces a planted symlink instead of writing through it, so nothing outside is touched.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { syncDirectory } from './partFile';

export async function writeStateFile(file: string, content: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const handle = await fs.open(temp, flags, 0o644);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await fs.rename(temp, file);
  await syncDirectory(path.dirname(file));
}
