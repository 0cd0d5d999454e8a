import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  EMPTY_ROOT,
  auditPath,
  expectedProofLength,
  leafHash,
  merkleRoot,
  nodeHash,
  verifyAuditPath,
} from '../../src/engine/integrity/merkleTree';
import { PieceHasher } from '../../src/engine/integrity/pieceHasher';

// Independent RFC 6962 §2.1 reference, written from the RFC text and sharing no code with src/.
const sha = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
function referenceMth(pieces: Buffer[]): Buffer {
  if (pieces.length === 0) return sha(Buffer.alloc(0));
  if (pieces.length === 1) return sha(Buffer.from([0]), pieces[0]);
  let k = 1;
  while (k * 2 < pieces.length) k *= 2;
  return sha(Buffer.from([1]), referenceMth(pieces.slice(0, k)), referenceMth(pieces.slice(k)));
}
function referencePath(m: number, pieces: Buffer[]): Buffer[] {
  if (pieces.length <= 1) return [];
  let k = 1;
  while (k * 2 < pieces.length) k *= 2;
  return m < k
    ? [...referencePath(m, pieces.slice(0, k)), referenceMth(pieces.slice(k))]
    : [...referencePath(m - k, pieces.slice(k)), referenceMth(pieces.slice(0, k))];
}

const makePieces = (n: number): Buffer[] => Array.from({ length: n }, (_, i) => Buffer.from(`piece-${i}-${'x'.repeat(i % 7)}`));
const SIZES = [1, 2, 3, 5, 7, 8, 13, 17];

describe('merkleTree (RFC 6962)', () => {
  it('hashes leaves and nodes with the 0x00 / 0x01 prefixes', () => {
    const piece = Buffer.from('hello');
    assert.deepEqual(leafHash(piece), sha(Buffer.from([0]), piece));
    const l = sha(Buffer.from('l'));
    const r = sha(Buffer.from('r'));
    assert.deepEqual(nodeHash(l, r), sha(Buffer.from([1]), l, r));
    assert.notDeepEqual(nodeHash(l, r), nodeHash(r, l));
  });

  it('PieceHasher fed in chunks equals leafHash of the whole piece', () => {
    const piece = Buffer.from('a'.repeat(1000) + 'b'.repeat(333));
    const hasher = new PieceHasher();
    for (let i = 0; i < piece.length; i += 97) hasher.update(piece.subarray(i, i + 97));
    assert.equal(hasher.length, piece.length);
    assert.deepEqual(hasher.digestLeaf(), leafHash(piece));
  });

  it('empty file: root is SHA-256("")', () => {
    assert.equal(EMPTY_ROOT.toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.deepEqual(merkleRoot([]), EMPTY_ROOT);
  });

  it('one piece: root is its leaf, proof is empty', () => {
    const leaf = leafHash(Buffer.from('only'));
    assert.deepEqual(merkleRoot([leaf]), leaf);
    assert.deepEqual(auditPath([leaf], 0), []);
    assert.equal(expectedProofLength(0, 1), 0);
    assert.ok(verifyAuditPath(leaf, 0, 1, [], leaf));
    assert.ok(!verifyAuditPath(leaf, 0, 1, [leaf], leaf), 'a padded proof for a single leaf must fail');
  });

  for (const n of SIZES) {
    it(`known answer for n=${n} matches the independent reference`, () => {
      const pieces = makePieces(n);
      assert.deepEqual(merkleRoot(pieces.map(leafHash)), referenceMth(pieces));
    });
  }

  it('merkletreejs bottom-up build equals the RFC split for every n up to 300', () => {
    for (let n = 1; n <= 300; n++) {
      const pieces = makePieces(n);
      assert.deepEqual(merkleRoot(pieces.map(leafHash)), referenceMth(pieces), `n=${n}`);
    }
  });

  for (const n of SIZES) {
    it(`n=${n}: every proof matches RFC 9162 PATH, verifies at its own index only`, () => {
      const pieces = makePieces(n);
      const leaves = pieces.map(leafHash);
      const root = merkleRoot(leaves);
      for (let i = 0; i < n; i++) {
        const proof = auditPath(leaves, i);
        assert.deepEqual(proof, referencePath(i, pieces), `path ${i}`);
        assert.equal(proof.length, expectedProofLength(i, n));
        assert.ok(verifyAuditPath(leaves[i], i, n, proof, root), `leaf ${i} at its own index`);
        for (let j = 0; j < n; j++) {
          if (j !== i) assert.ok(!verifyAuditPath(leaves[i], j, n, proof, root), `leaf ${i} replayed at ${j}`);
        }
        // The size comes from the trusted manifest; where it changes the proof's shape, a wrong one fails.
        if (expectedProofLength(i, n + 1) !== proof.length) {
          assert.ok(!verifyAuditPath(leaves[i], i, n + 1, proof, root), `leaf ${i} with n+1`);
        }
      }
    });
  }

  describe('attacks by a malicious mirror', () => {
    const pieces = makePieces(13);
    const leaves = pieces.map(leafHash);
    const root = merkleRoot(leaves);

    it('swapped adjacent pieces change the root and fail their proofs', () => {
      for (let i = 0; i + 1 < pieces.length; i++) {
        const swapped = [...pieces];
        [swapped[i], swapped[i + 1]] = [swapped[i + 1], swapped[i]];
        assert.notDeepEqual(merkleRoot(swapped.map(leafHash)), root, `swap ${i}`);
        assert.ok(!verifyAuditPath(leafHash(swapped[i]), i, 13, auditPath(leaves, i), root));
      }
    });

    it('a duplicated last piece changes the root (no CVE-2012-2459)', () => {
      for (const n of [3, 5, 7, 13]) {
        const base = makePieces(n);
        const dup = [...base, base[n - 1]];
        assert.notDeepEqual(merkleRoot(dup.map(leafHash)), merkleRoot(base.map(leafHash)), `n=${n}`);
      }
    });

    it('an inner node preimage left‖right presented as a leaf with a short proof fails', () => {
      const eight = makePieces(8).map(leafHash);
      const eightRoot = merkleRoot(eight);
      const fakePiece = Buffer.concat([eight[0], eight[1]]);
      assert.equal(fakePiece.length, 64);
      const shortProof = auditPath(eight, 0).slice(1);
      // As a leaf (domain-separated) and even as a raw node hash placed at leaf level.
      assert.ok(!verifyAuditPath(leafHash(fakePiece), 0, 8, shortProof, eightRoot));
      assert.ok(!verifyAuditPath(leafHash(fakePiece), 0, 4, shortProof, eightRoot));
      assert.ok(!verifyAuditPath(nodeHash(eight[0], eight[1]), 0, 8, shortProof, eightRoot));
      assert.ok(!verifyAuditPath(nodeHash(eight[0], eight[1]), 0, 8, auditPath(eight, 0), eightRoot));
    });

    it('truncated and extended proofs fail', () => {
      for (let i = 0; i < leaves.length; i++) {
        const proof = auditPath(leaves, i);
        if (proof.length > 0) assert.ok(!verifyAuditPath(leaves[i], i, 13, proof.slice(0, -1), root), `truncated ${i}`);
        assert.ok(!verifyAuditPath(leaves[i], i, 13, [...proof, root], root), `extended ${i}`);
        assert.ok(!verifyAuditPath(leaves[i], i, 13, [...proof, leaves[0]], root), `extended ${i}`);
        if (proof.length > 1) assert.ok(!verifyAuditPath(leaves[i], i, 13, [...proof].reverse(), root), `reordered ${i}`);
      }
    });

    it('malformed inputs are rejected, not thrown', () => {
      const proof = auditPath(leaves, 4);
      assert.ok(!verifyAuditPath(leaves[4], -1, 13, proof, root));
      assert.ok(!verifyAuditPath(leaves[4], 13, 13, proof, root));
      assert.ok(!verifyAuditPath(leaves[4], 4, 0, proof, root));
      assert.ok(!verifyAuditPath(leaves[4].subarray(0, 31), 4, 13, proof, root));
      assert.ok(!verifyAuditPath(leaves[4], 4, 13, proof.map((p, k) => (k === 0 ? p.subarray(1) : p)), root));
      assert.ok(!verifyAuditPath(leaves[4], 4.5, 13, proof, root));
    });
  });

  it('expectedProofLength matches the reference path length for every (index, n <= 40)', () => {
    for (let n = 1; n <= 40; n++) {
      const pieces = makePieces(n);
      for (let i = 0; i < n; i++) assert.equal(expectedProofLength(i, n), referencePath(i, pieces).length, `i=${i} n=${n}`);
    }
    assert.throws(() => expectedProofLength(3, 3), /outside/);
  });

  it('merkletreejs is imported only by merkleTree.ts, which never calls its verify()', () => {
    const srcRoot = path.join(__dirname, '..', '..', 'src');
    const importers: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (/\.(ts|js)$/.test(entry.name) && /from ['"]merkletreejs['"]|require\(['"]merkletreejs['"]\)/.test(fs.readFileSync(full, 'utf8'))) {
          importers.push(path.relative(srcRoot, full).split(path.sep).join('/'));
        }
      }
    };
    walk(srcRoot);
    assert.deepEqual(importers, ['engine/integrity/merkleTree.ts']);
    const code = fs.readFileSync(path.join(srcRoot, 'engine/integrity/merkleTree.ts'), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    assert.ok(!/\.verify\s*\(|getProof|MultiProof/.test(code), 'merkletreejs proofs/verify must not be used');
  });
});
