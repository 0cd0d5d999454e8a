/**
 * Streaming digest of a file on disk: whole-file SHA-256 plus one RFC 6962 leaf per piece, in a
 * single pass with bounded memory (one reused read buffer, 32 bytes kept per piece).
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { ErrorCode, toFetchError } from '../errors';
import { merkleRoot } from './merkleTree';
import { PieceHasher } from './pieceHasher';
import { validatePieceSize } from './pieceLayout';

/** Large reads keep syscalls few on multi-GB files; the buffer is reused, never grown. */
const READ_BUFFER_BYTES = 4 * 1024 * 1024;

/** Everything a manifest or a verifier needs about a file's content; all hashes are hex. */
export interface FileDigest {
  size: number;
  sha256: string;
  /** Leaf hashes `SHA-256(0x00 ‖ piece)`, one per piece, in order. */
  leaves: string[];
  /** RFC 6962 root over `leaves` (`SHA-256("")` for an empty file). */
  root: string;
}

/**
 * Hashes the file at `path` with pieces of `pieceSize` bytes. Throws FetchError(BadArguments) for
 * a bad piece size and FetchError(Disk) when the file cannot be read.
 */
export async function hashFile(path: string, pieceSize: number): Promise<FileDigest> {
  validatePieceSize(pieceSize);
  const whole = createHash('sha256');
  const leaves: Buffer[] = [];
  let piece = new PieceHasher();
  let size = 0;
  let handle;
  try {
    handle = await open(path, 'r');
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      whole.update(chunk);
      size += bytesRead;
      // Split the chunk at piece boundaries; hashing is synchronous, so reusing `buffer` is safe.
      let offset = 0;
      while (offset < chunk.length) {
        const take = Math.min(pieceSize - piece.length, chunk.length - offset);
        piece.update(chunk.subarray(offset, offset + take));
        offset += take;
        if (piece.length === pieceSize) {
          leaves.push(piece.digestLeaf());
          piece = new PieceHasher();
        }
      }
    }
  } catch (error) {
    throw toFetchError(error, ErrorCode.Disk);
  } finally {
    await handle?.close();
  }
  if (piece.length > 0) leaves.push(piece.digestLeaf());
  return {
    size,
    sha256: whole.digest('hex'),
    leaves: leaves.map((leaf) => leaf.toString('hex')),
    root: merkleRoot(leaves).toString('hex'),
  };
}
