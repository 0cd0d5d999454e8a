/**
 * One reader of a job's bytes, in file order, each byte only once its piece is verified (the I/O
 * dispatcher's output stream). Bytes are read back from the .part file, never kept from the
 * network, so memory stays at the stream's high-water mark plus one read, whatever the file size.
 *
 * What "verified" means depends on what the job was told:
 * - trusted per-piece hashes (Merkle leaves from a manifest, Metalink piece hashes): a piece is
 *   delivered only after it matched its trusted hash; the stream ends as soon as its range is out.
 * - only a whole-file SHA-256 (or a bare root, or nothing): a piece is delivered once it is
 *   committed to disk and hashed, which proves nothing yet. The stream therefore holds back the
 *   last piece of its range until the job's final check passed, and then checks that every piece
 *   it delivered still has the leaf it had when it was read (a repair may have replaced it). If
 *   the final check fails, or a delivered piece was replaced, the stream ends with an error
 *   instead of its last bytes: a consumer that checks the length never sees a complete, wrong body.
 */
import { Readable } from 'node:stream';
import { ErrorCode, FetchError } from '../errors';
import { ThroughputMeter } from '../throughputMeter';
import type { ReaderPosition } from './dataPrioritizer';

/** Largest single read from the part file. */
const READ_BYTES = 256 * 1024;
/** Bytes the stream buffers for a slow consumer before it stops reading (backpressure). */
const HIGH_WATER_MARK = 1024 * 1024;

/** What a reader needs from the job's streams (see VerifiedStreams). */
export interface StreamBackend {
  /** The file's layout, once the reference source fixed it; undefined before. */
  layout(): ReaderLayout | undefined;
  /** The job's end: undefined while it runs, `{}` when it completed, `{ error }` when it did not. */
  outcome(): { error?: FetchError } | undefined;
  read(position: number, length: number): Promise<Buffer>;
  /** The reader moved, blocked or ended: the prioritizer may need new urgent ranges. */
  readerChanged(waitingNow: boolean): void;
  readerClosed(reader: VerifiedStream): void;
}

/** The part of the piece store a reader looks at. */
export interface ReaderLayout {
  size: number;
  pieceSize: number;
  /** True when each piece is checked against a trusted hash before it counts as done. */
  checksEachPiece: boolean;
  isDone(index: number): boolean;
  leafOf(index: number): Buffer | undefined;
}

/** A Readable of bytes [start, end) of a job's file, delivered in order as they are verified. */
export class VerifiedStream extends Readable implements ReaderPosition {
  /** Next byte to deliver. */
  position: number;
  /** Exclusive end; Infinity until the size is known. */
  end: number;
  waiting = false;
  private readonly meter = new ThroughputMeter(3000, 100);
  private readonly deliveredLeaves = new Map<number, Buffer>();
  private pumping = false;
  private pumpAgain = false;
  private rangeChecked = false;
  private wantsData = false;

  /**
   * @param start first byte
   * @param requestedEnd exclusive end; undefined = the end of the file
   */
  constructor(private readonly backend: StreamBackend, readonly start: number, private readonly requestedEnd?: number) {
    super({ highWaterMark: HIGH_WATER_MARK });
    this.position = start;
    this.end = requestedEnd ?? Infinity;
  }

  get bytesPerSecond(): number {
    return this.meter.rate();
  }

  /** Bytes delivered so far. */
  get bytesDelivered(): number {
    return this.position - this.start;
  }

  override _read(): void {
    this.wantsData = true;
    this.pump();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.backend.readerClosed(this);
    callback(error);
  }

  /** Something changed (pieces verified, the layout known, the job ended): deliver what is ready. */
  pump(): void {
    if (this.pumping) {
      // A piece may have completed after the running pass looked: look again when it is done.
      this.pumpAgain = true;
      return;
    }
    if (!this.wantsData || this.destroyed) return;
    this.pumping = true;
    void this.deliver().finally(() => {
      this.pumping = false;
      if (this.pumpAgain) {
        this.pumpAgain = false;
        this.pump();
      }
    });
  }

  private async deliver(): Promise<void> {
    try {
      while (this.wantsData && !this.destroyed) {
        const layout = this.backend.layout();
        const outcome = this.backend.outcome();
        // A failed, cancelled or unverifiable job ends every unfinished reader with its error.
        if (outcome?.error) throw outcome.error;
        if (!layout) {
          if (outcome) throw new FetchError(ErrorCode.Internal, 'the job ended before its size was known');
          return this.block();
        }
        if (!this.rangeChecked) this.fixRange(layout.size);
        if (this.position >= this.end) {
          if (!layout.checksEachPiece) {
            if (!outcome) return this.block();
            this.checkFinal(layout);
          }
          this.push(null);
          return;
        }
        const length = this.readyBytes(layout, outcome);
        if (length === 0) {
          if (outcome) throw new FetchError(ErrorCode.Internal, `the job completed without byte ${this.position}`);
          return this.block();
        }
        this.setWaiting(false);
        // Leaves are noted before the read: if a piece is replaced while it is read, its new leaf
        // differs from the noted one and the final check catches the mixed bytes.
        if (!layout.checksEachPiece) this.noteLeaves(layout, this.position, this.position + length);
        const data = await this.backend.read(this.position, length);
        if (this.destroyed) return;
        if (data.length !== length) throw new FetchError(ErrorCode.Disk, `the part file ended at ${this.position + data.length}, expected ${this.position + length}`);
        this.position += length;
        this.meter.add(length);
        this.backend.readerChanged(false);
        if (!this.push(data)) this.wantsData = false;
      }
    } catch (error) {
      this.destroy(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private fixRange(size: number): void {
    const end = this.requestedEnd ?? size;
    if (this.start < 0 || end > size || this.start > end) {
      throw new FetchError(ErrorCode.BadArguments, `range ${this.start}-${end} is outside the file (${size} bytes)`);
    }
    this.end = end;
    this.rangeChecked = true;
  }

  /** Contiguous verified bytes from the position, at most READ_BYTES (and the held-back tail rule). */
  private readyBytes(layout: ReaderLayout, outcome: { error?: FetchError } | undefined): number {
    // Without trusted per-piece hashes the last piece of the range waits for the final check.
    const limit = layout.checksEachPiece || outcome
      ? this.end
      : Math.max(this.position, Math.floor((this.end - 1) / layout.pieceSize) * layout.pieceSize);
    const until = Math.min(limit, this.position + READ_BYTES);
    let ready = this.position;
    while (ready < until && layout.isDone(Math.floor(ready / layout.pieceSize))) {
      ready = (Math.floor(ready / layout.pieceSize) + 1) * layout.pieceSize;
    }
    return Math.max(0, Math.min(ready, until) - this.position);
  }

  private noteLeaves(layout: ReaderLayout, from: number, to: number): void {
    for (let index = Math.floor(from / layout.pieceSize); index * layout.pieceSize < to; index++) {
      if (!this.deliveredLeaves.has(index)) this.deliveredLeaves.set(index, layout.leafOf(index)!);
    }
  }

  /** Whole-file mode: the job's verdict covers every byte this stream already delivered. */
  private checkFinal(layout: ReaderLayout): void {
    for (const [index, leaf] of this.deliveredLeaves) {
      const final = layout.leafOf(index);
      if (!final || !final.equals(leaf)) {
        throw new FetchError(ErrorCode.VerificationFailed, `piece ${index} was streamed before the final check and then replaced by a repair: the streamed bytes are not the verified file`);
      }
    }
    this.deliveredLeaves.clear();
  }

  private block(): void {
    this.setWaiting(true);
  }

  private setWaiting(waiting: boolean): void {
    if (this.waiting === waiting) return;
    this.waiting = waiting;
    this.backend.readerChanged(waiting);
  }
}
