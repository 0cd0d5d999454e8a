/**
 * Fail-closed check of a file on disk against a trusted commitment. Every commitment given must
 * hold; giving none is an error, never an "ok".
 */
import { ErrorCode, FetchError } from '../errors';
import { hashFile } from './fileHasher';
import type { Manifest } from './manifest';
import { choosePieceSize, validatePieceSize } from './pieceLayout';

/** At most this many bad pieces are named: enough to repair, bounded for messages and logs. */
export const MAX_BAD_PIECES_REPORTED = 20;

/**
 * What the file must match. Give a `manifest`, or `root` with `pieceSize` (and optionally `size`),
 * or `sha256`; any combination is allowed and all given checks must pass.
 */
export interface VerifyExpectation {
  manifest?: Manifest;
  root?: string;
  pieceSize?: number;
  size?: number;
  sha256?: string;
}

/** Outcome of `verifyFile`; hashes are hex of what is actually on disk. */
export interface FileVerification {
  ok: boolean;
  size: number;
  sha256: string;
  root: string;
  /** Indexes of pieces whose leaf differs (first 20); only knowable when leaves were given. */
  badPieces: number[];
  /** Human summary: what was checked, or exactly what differed. */
  message: string;
}

const HEX_256 = /^[0-9a-fA-F]{64}$/;

function hexArg(value: string, field: string): string {
  if (!HEX_256.test(value)) throw new FetchError(ErrorCode.BadArguments, `expected ${field} must be 64 hex digits`);
  return value.toLowerCase();
}

/**
 * Hashes the file at `path` and compares it with `expectation`. Throws FetchError(BadArguments)
 * when the expectation is empty or malformed, FetchError(Disk) when the file cannot be read;
 * a mismatch is reported in the result (ok=false), not thrown.
 */
export async function verifyFile(path: string, expectation: VerifyExpectation): Promise<FileVerification> {
  const { manifest } = expectation;
  if (expectation.root !== undefined && expectation.pieceSize === undefined) {
    throw new FetchError(ErrorCode.BadArguments, 'a Merkle root can only be checked together with its piece size');
  }
  if (!manifest && expectation.root === undefined && expectation.sha256 === undefined) {
    throw new FetchError(ErrorCode.BadArguments, 'nothing to verify against: give a manifest, a root with its piece size, or a sha256');
  }
  const pieceSize = validatePieceSize(manifest?.pieceSize ?? expectation.pieceSize ?? choosePieceSize(expectation.size ?? 0));
  if (manifest && expectation.pieceSize !== undefined && expectation.pieceSize !== manifest.pieceSize) {
    throw new FetchError(ErrorCode.BadArguments, 'the piece size given differs from the manifest\'s');
  }

  const actual = await hashFile(path, pieceSize);
  const problems: string[] = [];
  const checked: string[] = [];
  const badPieces: number[] = [];

  const expectedSizes = [manifest?.size, expectation.size].filter((s): s is number => s !== undefined);
  for (const size of new Set(expectedSizes)) {
    if (actual.size !== size) problems.push(`size ${actual.size} differs from the expected ${size}`);
  }
  if (expectedSizes.length > 0) checked.push('size');

  const leaves = manifest?.leaves;
  if (leaves) {
    for (let i = 0; i < leaves.length && badPieces.length < MAX_BAD_PIECES_REPORTED; i++) {
      if (actual.leaves[i] !== leaves[i]) badPieces.push(i);
    }
  }
  const roots = [manifest?.root, expectation.root !== undefined ? hexArg(expectation.root, 'root') : undefined];
  for (const root of new Set(roots.filter((r): r is string => r !== undefined))) {
    if (actual.root === root) continue;
    if (!leaves) {
      problems.push('Merkle root differs (no leaf hashes were given, so the bad pieces cannot be named)');
    } else if (badPieces.length > 0) {
      const more = badPieces.length === MAX_BAD_PIECES_REPORTED ? ' and possibly more' : '';
      problems.push(`Merkle root differs: piece${badPieces.length > 1 ? 's' : ''} ${badPieces.join(', ')}${more} do not match`);
    } else {
      problems.push('Merkle root differs: the file has extra pieces beyond the expected ones');
    }
  }
  if (roots.some((r) => r !== undefined)) checked.push('Merkle root');

  const hashes = [manifest?.sha256, expectation.sha256 !== undefined ? hexArg(expectation.sha256, 'sha256') : undefined];
  for (const sha256 of new Set(hashes.filter((h): h is string => h !== undefined))) {
    if (actual.sha256 !== sha256) problems.push('sha256 differs');
  }
  if (hashes.some((h) => h !== undefined)) checked.push('sha256');

  const ok = problems.length === 0;
  return {
    ok,
    size: actual.size,
    sha256: actual.sha256,
    root: actual.root,
    badPieces,
    message: ok ? `verified: ${checked.join(', ')} match` : `verification failed: ${problems.join('; ')}`,
  };
}
