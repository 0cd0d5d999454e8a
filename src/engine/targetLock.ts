/**
 * A cross-process lock per target: an exclusively created lock file holding the owner's pid.
 * A lock whose owner is gone (crash, kill -9) is taken over. Part files are unique per target,
 * and pieces are verified, so even a lock that a file system fails to honour costs bandwidth,
 * never integrity.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import { ErrorCode, FetchError } from './errors';

export class TargetLock {
  private constructor(private readonly file: string) {}

  static async acquire(file: string, target: string): Promise<TargetLock> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const handle = await fs.open(file, 'wx', 0o644);
        await handle.writeFile(JSON.stringify({ pid: process.pid, host: os.hostname(), at: Date.now() }));
        await handle.close();
        return new TargetLock(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = await readOwner(file);
      if (owner && owner.host === os.hostname() && isAlive(owner.pid)) {
        throw new FetchError(ErrorCode.Locked, `another artifact-fetch process (pid ${owner.pid}) is downloading ${target}`);
      }
      // The owner is gone: take the lock over.
      await fs.unlink(file).catch(() => undefined);
    }
    throw new FetchError(ErrorCode.Locked, `could not lock ${target}`);
  }

  async release(): Promise<void> {
    await fs.unlink(this.file).catch(() => undefined);
  }
}

async function readOwner(file: string): Promise<{ pid: number; host: string } | undefined> {
  try {
    const owner = JSON.parse(await fs.readFile(file, 'utf8')) as { pid: number; host: string };
    return typeof owner.pid === 'number' ? owner : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
