/**
 * The `.part` file: created without following symlinks, sized up front, written with positioned
 * writes, and published to the final name only by an atomic, no-clobber link (or a rename when
 * the caller allowed overwriting). Nothing ever writes at the final path directly.
 */
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ErrorCode, FetchError, toFetchError } from './errors';
import { PieceWriter, type CompletedLeaf } from './pieceWriter';

type HashLayout = ConstructorParameters<typeof PieceWriter>[1];

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

  private readonly writer: PieceWriter;

  private constructor(readonly filePath: string, private readonly handle: fs.FileHandle, layout: HashLayout) {
    this.writer = new PieceWriter(handle.fd, layout);
  }

  /**
   * Opens (or creates) the part file and sizes it. Refuses a symlink at the path (O_NOFOLLOW) and
   * checks the free space for the bytes still to come.
   */
  static async open(filePath: string, size: number, bytesStillNeeded: number, hashing: { pieceSize: number; plain?: boolean } = { pieceSize: Math.max(1, size) }): Promise<PartFile> {
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
      const free = await freeBytes(path.dirname(filePath));
      if (free !== undefined && free < bytesStillNeeded) {
        throw new FetchError(ErrorCode.Disk, `disk full: ${bytesStillNeeded} bytes needed, ${free} free in ${path.dirname(filePath)}`);
      }
      if (stat.size !== size) await handle.truncate(size);
      return new PartFile(filePath, handle, { size, pieceSize: hashing.pieceSize, plain: hashing.plain === true });
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw toFetchError(error, ErrorCode.Disk);
    }
  }

  /** Writes buffers contiguously at `position` (on the writer thread, in the order asked). */
  async write(buffers: Buffer[], position: number): Promise<void> {
    await this.writeOnThread(buffers, position, false);
  }

  /**
   * Writes bytes of pieces being received and hashes them into their pieces' leaves on the way;
   * resolves with the pieces they completed. See pieceWriter.ts.
   */
  writeAndHash(buffers: Buffer[], position: number): Promise<CompletedLeaf[]> {
    return this.writeOnThread(buffers, position, true);
  }

  /** Forgets the running leaf hash of a piece whose bytes will come again from its start. */
  forgetPiece(index: number): void {
    this.writer.forget(index);
  }

  private async writeOnThread(buffers: Buffer[], position: number, hash: boolean): Promise<CompletedLeaf[]> {
    const leaves = await this.writer.write(position, buffers, hash);
    this.bytesSinceFlush += buffers.reduce((sum, buffer) => sum + buffer.length, 0);
    if (this.bytesSinceFlush >= WRITE_BEHIND_BYTES && !this.flushing) this.startFlush();
    return leaves;
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

  /** Stops the writer thread, then closes the file (the thread writes through its descriptor). */
  async close(): Promise<void> {
    await this.writer.close().catch(() => undefined);
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
