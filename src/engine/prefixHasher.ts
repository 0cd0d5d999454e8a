/**
 * The whole-file SHA-256, computed while the download runs: it follows the contiguous prefix of
 * done pieces, reading them back from the part file (still in the page cache), so at the end only
 * the last pieces remain to hash instead of the whole file.
 */
import { createHash, type Hash } from 'node:crypto';
import type { PartFile } from './partFile';
import type { PieceStore } from './pieceStore';

export class PrefixHasher {
  private hash: Hash = createHash('sha256');
  private nextPiece = 0;
  private running: Promise<void> | undefined;
  private buffer: Buffer | undefined;

  constructor(private readonly pieces: PieceStore, private readonly partFile: PartFile) {}

  /** Hashes whatever new prefix is done, in the background. */
  kick(): void {
    if (!this.running) this.running = this.advance().finally(() => { this.running = undefined; });
  }

  /** Hashes the rest (all pieces must be done) and returns the hex digest. */
  async finish(): Promise<string> {
    while (this.running) await this.running;
    await this.advance();
    if (this.nextPiece !== this.pieces.count) throw new Error('whole-file hash requested before every piece is done');
    return this.hash.digest('hex');
  }

  /** Starts over (a repair replaced pieces the prefix already covered). */
  async restart(): Promise<void> {
    while (this.running) await this.running;
    this.hash = createHash('sha256');
    this.nextPiece = 0;
  }

  private async advance(): Promise<void> {
    while (this.nextPiece < this.pieces.count && this.pieces.isDone(this.nextPiece)) {
      const start = this.pieces.pieceStart(this.nextPiece);
      const length = this.pieces.pieceEnd(this.nextPiece) - start;
      if (!this.buffer || this.buffer.length < length) this.buffer = Buffer.allocUnsafe(this.pieces.pieceSize);
      const data = await this.partFile.read(start, length, this.buffer.subarray(0, length));
      this.hash.update(data);
      this.nextPiece++;
    }
  }
}
