/**
 * Every stream reader of one job: opens readers before or while the job runs, wakes them when
 * pieces are verified, feeds the data prioritizer's urgent ranges to the planner, and ends them
 * when the job ends. The job talks to it through four calls (attach, piecesChanged, finish,
 * open); the readers never touch the job.
 */
import { constants, promises as fs } from 'node:fs';
import { ErrorCode, FetchError } from '../errors';
import type { PieceStore } from '../pieceStore';
import type { UrgentRange } from '../segmentPlanner';
import { urgentRanges } from './dataPrioritizer';
import { VerifiedStream, type ReaderLayout, type StreamBackend } from './verifiedStream';

/** The prioritizer runs at most this often while pieces complete (a blocked reader runs it at once). */
const PRIORITIZE_EVERY_MS = 100;

/** What the job hands over once the reference source fixed the layout. */
export interface StreamAttachment {
  pieces: PieceStore;
  /** The .part file (read back, never written, by the streams). */
  partPath: string;
  /** Where the planner takes the readers' urgent ranges. */
  setUrgentRanges(ranges: UrgentRange[]): void;
}

export class VerifiedStreams {
  private readonly readers = new Set<VerifiedStream>();
  private attachment?: StreamAttachment;
  private readerLayout?: ReaderLayout;
  private ended?: { error?: FetchError };
  private handle?: Promise<fs.FileHandle>;
  private lastPrioritizedAt = 0;
  private urgentSet = false;
  private sizeWaiters: Array<{ resolve(size: number): void; reject(error: Error): void }> = [];

  /** @param outputPath where the verified file lands (read by streams opened after the job completed) */
  constructor(private readonly outputPath: string) {}

  /**
   * A reader of bytes [start, end) (end exclusive, default the file end), delivered in order, each
   * only after its piece is verified; it blocks while they are not, and errors when the job fails.
   */
  open(start = 0, end?: number): VerifiedStream {
    if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
      throw new FetchError(ErrorCode.BadArguments, `not a valid byte range: ${start}-${end ?? ''}`);
    }
    const reader = new VerifiedStream(this.backend, start, end);
    this.readers.add(reader);
    return reader;
  }

  /** The file's size, once known (rejects when the job ends before it is). */
  size(): Promise<number> {
    if (this.attachment) return Promise.resolve(this.attachment.pieces.size);
    if (this.ended) return Promise.reject(this.ended.error ?? new FetchError(ErrorCode.Internal, 'the job ended before its size was known'));
    return new Promise((resolve, reject) => this.sizeWaiters.push({ resolve, reject }));
  }

  /** Readers open now. */
  get readerCount(): number {
    return this.readers.size;
  }

  /** The job fixed size and pieces (after a resume, its re-verified pieces count at once). */
  attach(attachment: StreamAttachment): void {
    this.attachment = attachment;
    const pieces = attachment.pieces;
    this.readerLayout = {
      size: pieces.size,
      pieceSize: pieces.pieceSize,
      checksEachPiece: pieces.checksEachPiece,
      isDone: (index) => pieces.isDone(index),
      leafOf: (index) => pieces.leaves[index],
    };
    for (const waiter of this.sizeWaiters.splice(0)) waiter.resolve(pieces.size);
    this.piecesChanged();
  }

  /** Pieces were verified (or taken back): wake blocked readers, refresh the urgent ranges. */
  piecesChanged(): void {
    if (this.readers.size === 0) return;
    for (const reader of this.readers) if (reader.waiting) reader.pump();
    if (Date.now() - this.lastPrioritizedAt >= PRIORITIZE_EVERY_MS) this.prioritize();
  }

  /** The job ended: completed (no error) or not. Every reader finishes or fails accordingly. */
  finish(error?: FetchError): void {
    if (this.ended) return;
    this.ended = { error };
    for (const waiter of this.sizeWaiters.splice(0)) waiter.reject(error ?? new FetchError(ErrorCode.Internal, 'the job ended before its size was known'));
    this.attachment?.setUrgentRanges([]);
    for (const reader of [...this.readers]) reader.pump();
    void this.closeHandleIfIdle();
  }

  private readonly backend: StreamBackend = {
    layout: () => this.readerLayout,
    outcome: () => this.ended,
    read: (position, length) => this.read(position, length),
    readerChanged: (waitingNow) => {
      // A reader that just blocked needs its pieces now; one that moved can wait for the next round.
      if (waitingNow || Date.now() - this.lastPrioritizedAt >= PRIORITIZE_EVERY_MS) this.prioritize();
    },
    readerClosed: (reader) => {
      this.readers.delete(reader);
      this.prioritize();
      void this.closeHandleIfIdle();
    },
  };

  private prioritize(): void {
    this.lastPrioritizedAt = Date.now();
    if (!this.attachment || this.ended) return;
    const ranges = urgentRanges(this.readers, this.attachment.pieces);
    // Nothing to tell the planner twice that nobody is waiting.
    if (ranges.length === 0 && !this.urgentSet) return;
    this.urgentSet = ranges.length > 0;
    this.attachment.setUrgentRanges(ranges);
  }

  private async read(position: number, length: number): Promise<Buffer> {
    this.handle ??= this.openHandle();
    const handle = await this.handle;
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === length ? buffer : buffer.subarray(0, done);
  }

  /**
   * While the job runs, the .part file; once it completed, the published file. A handle opened on
   * the .part file stays valid after publishing (a link and an unlink keep the same inode).
   */
  private async openHandle(): Promise<fs.FileHandle> {
    const file = this.ended && !this.ended.error ? this.outputPath : this.attachment!.partPath;
    try {
      return await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      this.handle = undefined;
      throw new FetchError(ErrorCode.Disk, `cannot read ${file} for the stream: ${(error as Error).message}`);
    }
  }

  private async closeHandleIfIdle(): Promise<void> {
    if (!this.ended || this.readers.size > 0 || !this.handle) return;
    const handle = this.handle;
    this.handle = undefined;
    await (await handle.catch(() => undefined))?.close().catch(() => undefined);
  }
}
