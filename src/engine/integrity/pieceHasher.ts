import { createHash, type Hash } from 'node:crypto';

/**
 * RFC 6962 §2.1 domain-separation prefix for leaves. Without it an inner node's 64-byte preimage
 * `left‖right` could be passed off as a piece (second-preimage attack), so it is fed first, always.
 */
export const LEAF_PREFIX = Buffer.from([0x00]);

/**
 * Incremental hasher for ONE piece, producing its RFC 6962 leaf hash `SHA-256(0x00 ‖ piece)`.
 * Lives on the download hot path: the piece's bytes are fed as they arrive, never buffered.
 * A hasher is single-use: after `digestLeaf()` create a new one.
 */
export class PieceHasher {
  private readonly hash: Hash = createHash('sha256');
  private fed = 0;

  constructor() {
    this.hash.update(LEAF_PREFIX);
  }

  /** Feeds the next bytes of the piece, in order. */
  update(chunk: Uint8Array): this {
    this.hash.update(chunk);
    this.fed += chunk.length;
    return this;
  }

  /** Bytes of the piece fed so far (not counting the prefix); callers check it against the layout. */
  get length(): number {
    return this.fed;
  }

  /** The 32-byte leaf hash `SHA-256(0x00 ‖ bytes)`. Ends this hasher. */
  digestLeaf(): Buffer {
    return this.hash.digest();
  }
}
