/**
 * The artifact manifest: the trusted commitment to a file's content, as JSON.
 *   {format:"artifact-fetch/manifest@1", name, size, pieceSize, hash:"sha256", tree:"rfc6962",
 *    root, sha256?, leaves?}            (all hashes lower-case hex)
 * It must reach us over a trusted channel (user setting, signed file, the primary origin over
 * verified HTTPS), never from the mirror serving the bytes. Parsing is strict and fail-closed:
 * leaves given with it are only data until they hash up to `root`, and their count must match
 * the layout implied by `size` and `pieceSize` (RELIABILITY.md Merkle pitfalls 5 and 6).
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { ErrorCode, FetchError, toFetchError } from '../errors';
import { isSafeFileName, safeFileName } from '../security/pathSafety';
import { hashFile } from './fileHasher';
import { EMPTY_ROOT, merkleRoot } from './merkleTree';
import { choosePieceSize, pieceCount, validatePieceSize } from './pieceLayout';

export { hashFile, type FileDigest } from './fileHasher';

/** The only manifest format this version reads and writes. */
export const MANIFEST_FORMAT = 'artifact-fetch/manifest@1';

/** A parsed, validated manifest. */
export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  /** Safe base name of the artifact (see `safeFileName`). */
  name: string;
  /** Exact size in bytes. */
  size: number;
  /** Power of two >= 16 KiB. */
  pieceSize: number;
  hash: 'sha256';
  tree: 'rfc6962';
  /** RFC 6962 root over the pieces, hex. */
  root: string;
  /** Whole-file SHA-256, hex. */
  sha256?: string;
  /** Leaf hashes, hex, one per piece; when present they hash up to `root`. */
  leaves?: string[];
}

const KEYS = ['format', 'name', 'size', 'pieceSize', 'hash', 'tree', 'root', 'sha256', 'leaves'] as const;
const HEX_256 = /^[0-9a-fA-F]{64}$/;
const EMPTY_SHA256 = createHash('sha256').digest('hex');

function bad(message: string): FetchError {
  return new FetchError(ErrorCode.BadArguments, `manifest: ${message}`);
}

function hex256(value: unknown, field: string): string {
  if (typeof value !== 'string' || !HEX_256.test(value)) throw bad(`"${field}" must be 64 hex digits`);
  return value.toLowerCase();
}

/** Validates any object claimed to be a manifest; returns a normalised copy. */
function checkManifest(input: unknown): Manifest {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw bad('must be a JSON object');
  const raw = input as Record<string, unknown>;
  const unknownKeys = Object.keys(raw).filter((k) => !(KEYS as readonly string[]).includes(k));
  if (unknownKeys.length > 0) throw bad(`unknown field(s) ${unknownKeys.map((k) => JSON.stringify(k)).join(', ')}`);
  if (raw.format !== MANIFEST_FORMAT) throw bad(`"format" must be "${MANIFEST_FORMAT}"`);
  if (typeof raw.name !== 'string') throw bad('"name" must be a string');
  if (!isSafeFileName(raw.name)) {
    throw new FetchError(ErrorCode.UnsafePath, `manifest: "name" ${JSON.stringify(raw.name.slice(0, 80))} is not a safe file name`);
  }
  if (typeof raw.size !== 'number' || !Number.isSafeInteger(raw.size) || raw.size < 0) {
    throw bad('"size" must be a non-negative integer');
  }
  if (typeof raw.pieceSize !== 'number') throw bad('"pieceSize" must be a number');
  try {
    validatePieceSize(raw.pieceSize);
  } catch (error) {
    throw bad(`"pieceSize": ${(error as Error).message}`);
  }
  if (raw.hash !== 'sha256') throw bad('"hash" must be "sha256"');
  if (raw.tree !== 'rfc6962') throw bad('"tree" must be "rfc6962"');
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    name: raw.name,
    size: raw.size,
    pieceSize: raw.pieceSize,
    hash: 'sha256',
    tree: 'rfc6962',
    root: hex256(raw.root, 'root'),
  };
  if (raw.sha256 !== undefined) manifest.sha256 = hex256(raw.sha256, 'sha256');
  if (manifest.size === 0) {
    // An empty file has no tree: its root and hash are fixed, so anything else is a lie.
    if (manifest.root !== EMPTY_ROOT.toString('hex')) throw bad('"root" of an empty file must be SHA-256("")');
    if (manifest.sha256 !== undefined && manifest.sha256 !== EMPTY_SHA256) throw bad('"sha256" of an empty file must be SHA-256("")');
  }
  if (raw.leaves !== undefined) {
    if (!Array.isArray(raw.leaves)) throw bad('"leaves" must be an array');
    const expected = pieceCount(manifest.size, manifest.pieceSize);
    if (raw.leaves.length !== expected) {
      throw bad(`"leaves" has ${raw.leaves.length} entries but size ${manifest.size} with pieceSize ${manifest.pieceSize} makes ${expected} pieces`);
    }
    const leaves = raw.leaves.map((leaf, i) => hex256(leaf, `leaves[${i}]`));
    const computed = merkleRoot(leaves.map((leaf) => Buffer.from(leaf, 'hex'))).toString('hex');
    if (computed !== manifest.root) throw bad('"leaves" do not hash up to "root"');
    manifest.leaves = leaves;
  }
  return manifest;
}

/**
 * Parses and strictly validates manifest JSON. Throws FetchError(BadArguments) naming the first
 * problem (FetchError(UnsafePath) for an unsafe name). Leaves, when present, are checked against
 * `root` and the piece count before this returns.
 */
export function parseManifest(text: string): Manifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw bad(`not valid JSON (${(error as Error).message})`);
  }
  return checkManifest(parsed);
}

/** Manifest as JSON text (fixed key order, 2-space indent, final newline); validates it first. */
export function serializeManifest(manifest: Manifest): string {
  const checked = checkManifest(manifest);
  const ordered: Record<string, unknown> = {};
  for (const key of KEYS) if (checked[key] !== undefined) ordered[key] = checked[key];
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/**
 * Manifest (with sha256 and leaves) for the file at `path`. `pieceSize` defaults to
 * `choosePieceSize(size)`; `name` defaults to the file's base name; both are validated.
 */
export async function createManifest(path: string, pieceSize?: number, name?: string): Promise<Manifest> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    throw toFetchError(error, ErrorCode.Disk);
  }
  const chosen = validatePieceSize(pieceSize ?? choosePieceSize(size));
  const digest = await hashFile(path, chosen);
  return checkManifest({
    format: MANIFEST_FORMAT,
    name: safeFileName(name ?? nodePath.basename(path)),
    size: digest.size,
    pieceSize: chosen,
    hash: 'sha256',
    tree: 'rfc6962',
    root: digest.root,
    sha256: digest.sha256,
    leaves: digest.leaves,
  });
}
