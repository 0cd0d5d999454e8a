import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeArtifact, sha256FileHex, sha256Hex, writeArtifactFile } from '../harness/artifact';

describe('harness: artifact', () => {
  it('is deterministic per seed and differs between seeds', () => {
    assert.ok(makeArtifact(100_000, 7).equals(makeArtifact(100_000, 7)));
    assert.ok(!makeArtifact(100_000, 7).equals(makeArtifact(100_000, 8)));
    // A prefix of a longer artifact is the shorter artifact: sizes can change without new bytes.
    assert.ok(makeArtifact(5_000_000, 'x').subarray(0, 1234).equals(makeArtifact(1234, 'x')));
  });

  it('has a pinned digest, so the TypeScript and bench generators stay in step', () => {
    assert.equal(sha256Hex(makeArtifact(1_000_000, 1)), PINNED_SHA256_1MB_SEED_1);
  });

  it('generates 64 MiB in well under a second', () => {
    const started = performance.now();
    const artifact = makeArtifact(64 * 1024 * 1024, 'speed');
    const elapsed = performance.now() - started;
    assert.equal(artifact.length, 64 * 1024 * 1024);
    assert.ok(elapsed < 1000, `took ${elapsed.toFixed(0)} ms`);
  });

  it('writes the same bytes to a file and returns their SHA-256', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'af-artifact-'));
    try {
      const file = path.join(dir, 'a.bin');
      const size = 9 * 1024 * 1024 + 3;
      const digest = await writeArtifactFile(file, size, 'file');
      assert.equal(digest, sha256Hex(makeArtifact(size, 'file')));
      assert.equal(await sha256FileHex(file), digest);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});

/** sha256(makeArtifact(1e6, 1)); bench/artifactFile.js must produce the same. */
const PINNED_SHA256_1MB_SEED_1 = '568a92bda4f5bfd6eb4c604b7dce525e03ab8d2dabeb7b192a07254b35d35efe';
