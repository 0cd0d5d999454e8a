/**
 * The truth about pieces: which are done, their RFC 6962 leaf hashes, who sent them, and the
 * running hash of every piece being received. A piece is "done" only after its bytes are written
 * and its leaf was computed locally; with trusted leaves it must also equal the expected leaf.
 */
import { createHash, type Hash } from 'node:crypto';

export const PIECE_MISSING = 0;
export const PIECE_IN_FLIGHT = 1;
export const PIECE_DONE = 2;

const LEAF_PREFIX = Buffer.of(0x00);

/** The running hash of one piece that is being received in order. */
interface PieceProgress {
  hash: Hash;
  /** Plain SHA-256 of the piece, only when Metalink piece hashes are the check. */
  plain?: Hash;
  /** Bytes of the piece fed so far, from its start. */
  received: number;
  /** Bytes each source fed into this piece. */
  senders: Map<number, number>;
}

/** What happened when a piece completed. */
export type PieceOutcome =
  | { kind: 'done'; index: number; leaf: Buffer; senders: number[]; credit?: Map<number, number> }
  | { kind: 'corrupt'; index: number; leaf: Buffer; senders: number[]; credit?: Map<number, number> };

export class PieceStore {
  readonly count: number;
  readonly states: Uint8Array;
  readonly leaves: Array<Buffer | undefined>;
  /** Who sent each done piece (several ids when a piece was continued on another source). */
  readonly senders: Array<number[] | undefined>;
  private readonly progress = new Map<number, PieceProgress>();
  private done = 0;
  private doneBytes = 0;

  /**
   * @param expectedLeaves trusted leaves (already checked against the root), when known
   */
  constructor(
    readonly size: number,
    readonly pieceSize: number,
    readonly expectedLeaves?: Buffer[],
    /** Trusted plain SHA-256 per piece (Metalink), when known. */
    readonly expectedPlain?: Buffer[],
  ) {
    this.count = size === 0 ? 0 : Math.ceil(size / pieceSize);
    this.states = new Uint8Array(this.count);
    this.leaves = new Array(this.count);
    this.senders = new Array(this.count);
  }

  pieceStart(index: number): number {
    return index * this.pieceSize;
  }

  pieceEnd(index: number): number {
    return Math.min(this.size, (index + 1) * this.pieceSize);
  }

  pieceOf(offset: number): number {
    return Math.floor(offset / this.pieceSize);
  }

  /** The first piece boundary at or after `offset` (or the file size). */
  alignUp(offset: number): number {
    return Math.min(this.size, Math.ceil(offset / this.pieceSize) * this.pieceSize);
  }

  get doneCount(): number {
    return this.done;
  }

  get bytesDone(): number {
    return this.doneBytes;
  }

  get complete(): boolean {
    return this.done === this.count;
  }

  isDone(index: number): boolean {
    return this.states[index] === PIECE_DONE;
  }

  /** Bytes of the piece at `offset` that are already hashed (0 when nobody started it). */
  receivedAt(index: number): number {
    return this.progress.get(index)?.received ?? 0;
  }

  /** Forgets a half-received piece: its bytes must be fetched again from its start. */
  resetProgress(index: number): void {
    this.progress.delete(index);
    if (this.states[index] === PIECE_IN_FLIGHT) this.states[index] = PIECE_MISSING;
  }

  /**
   * Feeds bytes that were just written at `offset`. Bytes must continue exactly where the piece's
   * running hash stopped; anything else is a bug in the caller and throws. Returns the pieces
   * these bytes completed.
   */
  feed(offset: number, chunks: Buffer[], sourceId: number): PieceOutcome[] {
    const outcomes: PieceOutcome[] = [];
    let position = offset;
    for (const chunk of chunks) {
      let used = 0;
      while (used < chunk.length) {
        const index = this.pieceOf(position);
        const pieceStart = this.pieceStart(index);
        const pieceEnd = this.pieceEnd(index);
        let progress = this.progress.get(index);
        // A done piece has exactly one writer, and it is finished: anything else is a planner bug.
        if (this.states[index] === PIECE_DONE) throw new Error(`piece ${index} is already done`);
        if (!progress) {
          if (position !== pieceStart) throw new Error(`piece ${index} fed at ${position - pieceStart} without its start`);
          progress = {
            hash: createHash('sha256').update(LEAF_PREFIX),
            plain: this.expectedPlain ? createHash('sha256') : undefined,
            received: 0,
            senders: new Map(),
          };
          this.progress.set(index, progress);
          this.states[index] = PIECE_IN_FLIGHT;
        } else if (pieceStart + progress.received !== position) {
          throw new Error(`piece ${index} fed at ${position - pieceStart}, expected ${progress.received}`);
        }
        const take = Math.min(chunk.length - used, pieceEnd - position);
        const part = take === chunk.length && used === 0 ? chunk : chunk.subarray(used, used + take);
        progress.hash.update(part);
        progress.plain?.update(part);
        progress.senders.set(sourceId, (progress.senders.get(sourceId) ?? 0) + take);
        progress.received += take;
        position += take;
        used += take;
        if (position === pieceEnd) {
          this.progress.delete(index);
          const outcome = this.finish(index, progress.hash.digest(), [...progress.senders.keys()], progress.plain?.digest());
          outcome.credit = progress.senders;
          outcomes.push(outcome);
        }
      }
    }
    return outcomes;
  }

  /**
   * Completes a piece whose leaf was computed elsewhere (an endgame racer, a resume re-hash).
   * Checks it against the trusted leaf (and Metalink piece hash) when there is one.
   */
  finish(index: number, leaf: Buffer, senders: number[], plain?: Buffer): PieceOutcome {
    const expected = this.expectedLeaves?.[index];
    const expectedPlain = this.expectedPlain?.[index];
    if ((expected && !expected.equals(leaf)) || (expectedPlain && !(plain && expectedPlain.equals(plain)))) {
      this.states[index] = PIECE_MISSING;
      return { kind: 'corrupt', index, leaf, senders };
    }
    this.markDone(index, leaf, senders);
    return { kind: 'done', index, leaf, senders };
  }

  /** Marks a piece done with its leaf (used by `finish` and by resume). */
  markDone(index: number, leaf: Buffer, senders: number[]): void {
    if (this.states[index] !== PIECE_DONE) {
      this.done++;
      this.doneBytes += this.pieceEnd(index) - this.pieceStart(index);
    }
    this.states[index] = PIECE_DONE;
    this.leaves[index] = leaf;
    this.senders[index] = senders;
    this.progress.delete(index);
  }

  /** Takes a done piece back (a repair found it bad). */
  markMissing(index: number): void {
    if (this.states[index] === PIECE_DONE) {
      this.done--;
      this.doneBytes -= this.pieceEnd(index) - this.pieceStart(index);
    }
    this.states[index] = PIECE_MISSING;
    this.leaves[index] = undefined;
    this.senders[index] = undefined;
    this.progress.delete(index);
  }

  /** True when pieces have a trusted per-piece check (Merkle leaves or Metalink hashes). */
  get checksEachPiece(): boolean {
    return this.expectedLeaves !== undefined || this.expectedPlain !== undefined;
  }

  /** Missing byte ranges, merged, in file order (pieces not done). */
  missingRanges(): Array<{ start: number; end: number }> {
    const ranges: Array<{ start: number; end: number }> = [];
    for (let i = 0; i < this.count; i++) {
      if (this.states[i] === PIECE_DONE) continue;
      const start = this.pieceStart(i);
      const last = ranges[ranges.length - 1];
      if (last && last.end === start) last.end = this.pieceEnd(i);
      else ranges.push({ start, end: this.pieceEnd(i) });
    }
    return ranges;
  }

  /** Piece states as a compact string ('0' missing, '1' in flight, '2' done). */
  stateString(): string {
    return Buffer.from(this.states.map((s) => 48 + s)).toString('latin1');
  }
}
