/**
 * The RFC 6962 / RFC 9162 Merkle tree over a file's pieces, exactly:
 *   leaf  LH = SHA-256(0x00 ‖ piece)
 *   node  NH = SHA-256(0x01 ‖ left ‖ right)
 *   MTH(D[n]) splits at k = the largest power of two < n; no duplication, sorting or padding.
 *   One piece: root = its leaf. Empty file: root = SHA-256("") (RFC 6962 MTH({})).
 *
 * merkletreejs is used only to BUILD the root, with every option that changes the tree's shape or
 * order switched off (see /work/shared/RELIABILITY.md "Merkle-tree pitfalls"). Its bottom-up
 * pairing promotes a lone last node unchanged, which yields the same tree as the RFC's
 * largest-power-of-two split for every n (the left part of each split is a perfect subtree, so
 * pairing never crosses it); test/integrity checks this against an independent recursive MTH.
 * Its `verify()` is never used: it takes left/right from the prover and ignores index and size.
 * Verification is our own RFC 9162 §2.1.3.2 fold below.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, FetchError } from '../errors';
import { PieceHasher } from './pieceHasher';

/** Size of every leaf and node hash, bytes. */
export const HASH_LENGTH = 32;

/** RFC 6962 §2.1 domain-separation prefix for inner nodes. */
export const NODE_PREFIX = Buffer.from([0x01]);

/** Root of an empty file: SHA-256 of the empty string, as RFC 6962 defines MTH({}). */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Leaf hash `SHA-256(0x00 ‖ piece)` of one whole piece. */
export function leafHash(piece: Buffer): Buffer {
  return new PieceHasher().update(piece).digestLeaf();
}

/** Inner node hash `SHA-256(0x01 ‖ left ‖ right)`. */
export function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

function assertLeaves(leaves: Buffer[]): void {
  for (let i = 0; i < leaves.length; i++) {
    if (!Buffer.isBuffer(leaves[i]) || leaves[i].length !== HASH_LENGTH) {
      throw new FetchError(ErrorCode.BadArguments, `leaf ${i} is not a ${HASH_LENGTH}-byte hash`);
    }
  }
}

function assertPosition(index: number, treeSize: number): void {
  if (!Number.isSafeInteger(treeSize) || treeSize < 1) {
    throw new FetchError(ErrorCode.BadArguments, `tree size must be a positive integer, got ${treeSize}`);
  }
  if (!Number.isSafeInteger(index) || index < 0 || index >= treeSize) {
    throw new FetchError(ErrorCode.BadArguments, `leaf index ${index} is outside a tree of ${treeSize} leaves`);
  }
}

/** Largest power of two strictly below n (n >= 2): the RFC 6962 split point. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * RFC 6962 Merkle Tree Hash over leaf hashes (each `leafHash(piece)`, 32 bytes), built with
 * merkletreejs in its only safe configuration. `[]` gives `EMPTY_ROOT`; one leaf gives that leaf.
 */
export function merkleRoot(leaves: Buffer[]): Buffer {
  assertLeaves(leaves);
  if (leaves.length === 0) return Buffer.from(EMPTY_ROOT);
  // Loaded on first use: it pulls in crypto-js, which costs ~20 ms of CLI start-up otherwise.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { MerkleTree } = require('merkletreejs') as typeof import('merkletreejs');
  const tree = new MerkleTree(leaves, sha256, {
    // Leaves are already LH(piece); letting the library hash them would drop the 0x00 prefix.
    hashLeaves: false,
    // The library hashes `concatenator([l, r])` with sha256: adding 0x01 here makes it NH(l, r).
    concatenator: (pair: Buffer[]) => Buffer.concat([NODE_PREFIX, ...pair]),
    // Each of these makes the root order-insensitive, duplicates or pads: all forgery vectors.
    sortPairs: false,
    sortLeaves: false,
    sort: false,
    duplicateOdd: false,
    isBitcoinTree: false,
    complete: false,
  });
  return Buffer.from(tree.getRoot());
}

/**
 * RFC 9162 §2.1.3.1 audit path of leaf `index`: sibling hashes ordered from the leaf upward.
 * Recursion mirrors PATH(m, D[n]) literally, so its order is the one the verifier folds.
 */
export function auditPath(leaves: Buffer[], index: number): Buffer[] {
  assertLeaves(leaves);
  assertPosition(index, leaves.length);
  let lo = 0;
  let hi = leaves.length;
  let m = index;
  // Walk down from the root; each level contributes the hash of the subtree we do NOT enter.
  const fromRoot: Buffer[] = [];
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (m < k) {
      fromRoot.push(merkleRoot(leaves.slice(lo + k, hi)));
      hi = lo + k;
    } else {
      fromRoot.push(merkleRoot(leaves.slice(lo, lo + k)));
      lo += k;
      m -= k;
    }
  }
  return fromRoot.reverse();
}

/** Exact number of hashes in the audit path of leaf `index` in a tree of `treeSize` leaves. */
export function expectedProofLength(index: number, treeSize: number): number {
  assertPosition(index, treeSize);
  let length = 0;
  let m = index;
  let n = treeSize;
  while (n > 1) {
    const k = splitPoint(n);
    if (m < k) {
      n = k;
    } else {
      m -= k;
      n -= k;
    }
    length++;
  }
  return length;
}

/**
 * RFC 9162 §2.1.3.2: does `path` prove that `leaf` (a leaf hash computed LOCALLY from received
 * bytes) sits at `index` of the tree of `treeSize` leaves whose root is `root`? Index, size and
 * root must come from the trusted manifest, never from the mirror. Left/right at each step is
 * derived from (index, treeSize), not from the proof, and the proof length must be exact, so a
 * replayed, truncated, padded or reordered proof fails. Returns false (never throws) on bad input.
 */
export function verifyAuditPath(leaf: Buffer, index: number, treeSize: number, path: Buffer[], root: Buffer): boolean {
  if (!Number.isSafeInteger(treeSize) || treeSize < 1) return false;
  if (!Number.isSafeInteger(index) || index < 0 || index >= treeSize) return false;
  if (!Buffer.isBuffer(leaf) || leaf.length !== HASH_LENGTH) return false;
  if (!Buffer.isBuffer(root) || root.length !== HASH_LENGTH) return false;
  if (!Array.isArray(path) || path.length !== expectedProofLength(index, treeSize)) return false;

  // Arithmetic instead of >> so positions above 2^31 cannot wrap.
  const isOdd = (x: number): boolean => x % 2 === 1;
  const half = (x: number): number => Math.floor(x / 2);
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of path) {
    if (!Buffer.isBuffer(p) || p.length !== HASH_LENGTH) return false;
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      // A right-edge node with no sibling is promoted: skip the levels where it is a left child.
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && r.equals(root);
}
