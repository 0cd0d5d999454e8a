/**
 * The `.part` file: created without following symlinks, sized up front, written with positioned
 * writes, and published to the final name only by an atomic, no-clobber link (or a rename when
 * the caller allowed overwriting). Nothing ever writes at the final path directly.
 */
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ErrorCode, FetchError, toFetchError } from './errors';

/**
 * Write-behind: after this many bytes written since the last flush, a data sync starts in the
 * background. The kernel then writes the file out while the download runs, instead of all of it in
 * the fsync before publishing (about a second per 400 MB on a typical disk), and the page cache
 * never holds more than about this much unwritten data of ours.
 */
const WRITE_BEHIND_BYTES = 32 * 1024 * 1024;

export class PartFile {
  private bytesSinceFlush = 0;
  private flushing?: Promise<void>;
  /** Linux reports a writeback error to one fsync per descriptor only: keep it for the next sync(). */
  private flushError?: unknown;

  /** The file's size as this object last saw or set it. */
  private sizeOnDisk = -1;

  private constructor(readonly filePath: string, private readonly handle: fs.FileHandle) {}

  /**
   * Opens (or creates) the part file and sizes it. Refuses a symlink at the path (O_NOFOLLOW) and
   * checks the free space for the bytes still to come.
   */
  static async open(filePath: string, size: number, bytesStillNeeded: number): Promise<PartFile> {
    const partFile = await PartFile.create(filePath);
    await partFile.resize(size, bytesStillNeeded);
    return partFile;
  }

  /**
   * Opens (or creates) the part file without sizing it, so a job can do it while its first
   * request is in flight; resize() follows once the size is known. Refuses a symlink at the path
   * (O_NOFOLLOW) and anything that is not a regular file.
   */
  static async create(filePath: string): Promise<PartFile> {
    await fs.mkdir(path.dirname(filePath), { recursive: true });
    const flags = constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW;
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(filePath, flags, 0o644);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
        throw new FetchError(ErrorCode.UnsafePath, `refusing to write through a symlink at ${filePath}`);
      }
      throw toFetchError(error, ErrorCode.Disk);
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new FetchError(ErrorCode.UnsafePath, `${filePath} is not a regular file`);
      const partFile = new PartFile(filePath, handle);
      partFile.sizeOnDisk = stat.size;
      return partFile;
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw toFetchError(error, ErrorCode.Disk);
    }
  }

  /**
   * Sizes the file to `size` after checking the free space for the bytes still to come; on
   * failure the handle is closed (the file stays for the caller to remove).
   */
  async resize(size: number, bytesStillNeeded: number): Promise<void> {
    try {
      const free = await freeBytes(path.dirname(this.filePath));
      if (free !== undefined && free < bytesStillNeeded) {
        throw new FetchError(ErrorCode.Disk, `disk full: ${bytesStillNeeded} bytes needed, ${free} free in ${path.dirname(this.filePath)}`);
      }
      if (this.sizeOnDisk !== size) await this.handle.truncate(size);
      this.sizeOnDisk = size;
    } catch (error) {
      await this.close();
      throw toFetchError(error, ErrorCode.Disk);
    }
  }

  /** Writes buffers contiguously at `position`. */
  async write(buffers: Buffer[], position: number): Promise<void> {
    let offset = position;
    let pending = buffers;
    while (pending.length > 0) {
      const { bytesWritten } = await this.handle.writev(pending, offset);
      offset += bytesWritten;
      this.bytesSinceFlush += bytesWritten;
      pending = dropBytes(pending, bytesWritten);
    }
    if (this.bytesSinceFlush >= WRITE_BEHIND_BYTES && !this.flushing) this.startFlush();
  }

  /**
   * Starts writing everything written so far to disk without waiting for it (the last pieces
   * while the final hash runs). A failure is kept and surfaces at the next sync() or publish:
   * Linux reports a writeback error to one fsync per descriptor only, so it must never be dropped.
   */
  flushInBackground(): void {
    this.startFlush();
  }

  /**
   * A background data sync; one runs at a time, a later one follows the running one (for what was
   * written after it began). A failure surfaces at the next sync() or publish.
   */
  private startFlush(): void {
    this.bytesSinceFlush = 0;
    const flush: Promise<void> = (this.flushing ?? Promise.resolve())
      .then(() => this.handle.datasync())
      .then(
        () => undefined,
        (error: unknown) => { this.flushError ??= error; },
      )
      .finally(() => {
        if (this.flushing === flush) this.flushing = undefined;
      });
    this.flushing = flush;
  }

  private throwFlushError(): void {
    if (this.flushError === undefined) return;
    const error = this.flushError;
    this.flushError = undefined;
    throw toFetchError(error, ErrorCode.Disk);
  }

  async read(position: number, length: number, into?: Buffer): Promise<Buffer> {
    const buffer = into ?? Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === buffer.length ? buffer : buffer.subarray(0, done);
  }

  /** Makes every byte written so far durable. */
  async sync(): Promise<void> {
    this.bytesSinceFlush = 0;
    await this.flushing;
    await this.handle.datasync();
    this.throwFlushError();
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }

  /**
   * Publishes the part file at `finalPath`: fsync, then an atomic link that fails if anything
   * exists there (or rename over it when `overwrite`), then removes the part name.
   */
  async publish(finalPath: string, overwrite: boolean): Promise<void> {
    await this.flushing;
    await this.handle.sync();
    this.throwFlushError();
    await this.close();
    try {
      if (overwrite) {
        await fs.rename(this.filePath, finalPath);
      } else {
        await fs.link(this.filePath, finalPath);
        await fs.unlink(this.filePath);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new FetchError(ErrorCode.TargetExists, `${finalPath} appeared while downloading; it was left untouched (the verified file stays in ${this.filePath})`);
      }
      throw toFetchError(error, ErrorCode.Disk);
    }
    await syncDirectory(path.dirname(finalPath));
  }
}

function dropBytes(buffers: Buffer[], count: number): Buffer[] {
  let left = count;
  let index = 0;
  while (index < buffers.length && left >= buffers[index].length) {
    left -= buffers[index].length;
    index++;
  }
  const rest = buffers.slice(index);
  if (left > 0 && rest.length > 0) rest[0] = rest[0].subarray(left);
  return rest;
}

/** Free bytes for an unprivileged writer in `dir`, when the platform tells. */
export async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const stats = await fs.statfs(dir);
    return Number(stats.bavail) * Number(stats.bsize);
  } catch {
    return undefined;
  }
}

/** fsyncs a directory so a rename in it survives a power loss (best effort where unsupported). */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, constants.O_RDONLY);
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic there.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
