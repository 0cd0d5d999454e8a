/**
 * A cross-process lock per target: an exclusively created lock file holding the owner's pid and
 * thread. A lock whose owner is gone (crash, kill -9, a terminated worker thread) is taken over.
 * Within one thread a set of held targets refuses a second job on the same file. Part files are
 * unique per target and pieces are verified, so even a lock a file system fails to honour costs
 * bandwidth, never integrity.
 */
const heldHere = new Set<string>();
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import { threadId } from 'node:worker_threads';
import { ErrorCode, FetchError } from './errors';

export class TargetLock {
  private constructor(private readonly file: string) {}

  static async acquire(file: string, target: string): Promise<TargetLock> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const handle = await fs.open(file, 'wx', 0o644);
        await handle.writeFile(JSON.stringify({ pid: process.pid, threadId, host: os.hostname(), at: Date.now() }));
        await handle.close();
        heldHere.add(file);
        return new TargetLock(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = await readOwner(file);
      if (heldHere.has(file) || (owner !== undefined && owner.host === os.hostname() && isAlive(owner))) {
        const who = owner && owner.pid !== process.pid ? `another artifact-fetch process (pid ${owner.pid})` : `another download in this process`;
        throw new FetchError(ErrorCode.Locked, `${who} is downloading ${target}`);
      }
      // The owner is gone: take the lock over.
      await fs.unlink(file).catch(() => undefined);
    }
    throw new FetchError(ErrorCode.Locked, `could not lock ${target}`);
  }

  async release(): Promise<void> {
    heldHere.delete(this.file);
    await fs.unlink(this.file).catch(() => undefined);
  }
}

interface LockOwner {
  pid: number;
  threadId?: number;
  host: string;
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await fs.readFile(file, 'utf8')) as LockOwner;
    return typeof owner.pid === 'number' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the lock's owner still runs. In this process, the engine runs on one thread: a lock
 * left by another thread of ours (a worker that died) is stale, and this thread's own locks are
 * tracked in `heldHere`.
 */
function isAlive(owner: LockOwner): boolean {
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
