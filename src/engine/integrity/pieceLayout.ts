/**
 * How a file is cut into pieces. Piece `i` is exactly `pieceSize` bytes except the last, which is
 * whatever remains (never padded); an empty file has no pieces. The piece size is part of the
 * trusted commitment: with a different size the same bytes give a different tree.
 */
import { ErrorCode, FetchError } from '../errors';

/** Smallest piece size accepted from anyone (BEP 52's block size; smaller trees cost too much). */
export const MIN_PIECE_SIZE = 16 * 1024;
/** Largest piece size accepted: a piece is fetched and hashed as one unit before it is trusted. */
export const MAX_PIECE_SIZE = 1024 * 1024 * 1024;
/** Bounds for the automatic choice: ~1024 pieces per file, not too many tiny requests. */
export const DEFAULT_MIN_PIECE_SIZE = 64 * 1024;
export const DEFAULT_MAX_PIECE_SIZE = 16 * 1024 * 1024;

/** Inclusive start, exclusive end byte offsets of one piece. */
export interface PieceRange {
  start: number;
  end: number;
}

function assertSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new FetchError(ErrorCode.BadArguments, `file size must be a non-negative integer, got ${size}`);
  }
}

function isPowerOfTwo(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < 1) return false;
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
}

/** Default piece size for a file: clamp(nextPow2(ceil(size / 1024)), 64 KiB, 16 MiB). */
export function choosePieceSize(size: number): number {
  assertSize(size);
  const target = Math.ceil(size / 1024);
  let pieceSize = 1;
  while (pieceSize < target && pieceSize < DEFAULT_MAX_PIECE_SIZE) pieceSize *= 2;
  return Math.min(Math.max(pieceSize, DEFAULT_MIN_PIECE_SIZE), DEFAULT_MAX_PIECE_SIZE);
}

/**
 * Returns `pieceSize` if it is a power of two between 16 KiB and 1 GiB, else throws
 * FetchError(BadArguments). Applied to every piece size from a user, manifest or metalink.
 */
export function validatePieceSize(pieceSize: number): number {
  if (!isPowerOfTwo(pieceSize)) {
    throw new FetchError(ErrorCode.BadArguments, `piece size must be a power of two, got ${pieceSize}`);
  }
  if (pieceSize < MIN_PIECE_SIZE) {
    throw new FetchError(ErrorCode.BadArguments, `piece size must be at least ${MIN_PIECE_SIZE} bytes, got ${pieceSize}`);
  }
  if (pieceSize > MAX_PIECE_SIZE) {
    throw new FetchError(ErrorCode.BadArguments, `piece size must be at most ${MAX_PIECE_SIZE} bytes, got ${pieceSize}`);
  }
  return pieceSize;
}

/** Number of pieces of a file: ceil(size / pieceSize); 0 for an empty file. */
export function pieceCount(size: number, pieceSize: number): number {
  assertSize(size);
  validatePieceSize(pieceSize);
  return Math.ceil(size / pieceSize);
}

/** Byte range of piece `index`; throws FetchError(BadArguments) if there is no such piece. */
export function pieceRange(index: number, size: number, pieceSize: number): PieceRange {
  const count = pieceCount(size, pieceSize);
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw new FetchError(ErrorCode.BadArguments, `piece ${index} does not exist (the file has ${count} pieces)`);
  }
  const start = index * pieceSize;
  return { start, end: Math.min(start + pieceSize, size) };
}
