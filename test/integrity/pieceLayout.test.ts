import * as assert from 'node:assert/strict';
import { ErrorCode, FetchError } from '../../src/engine/errors';
import { choosePieceSize, pieceCount, pieceRange, validatePieceSize } from '../../src/engine/integrity/pieceLayout';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('pieceLayout', () => {
  it('choosePieceSize clamps nextPow2(ceil(size/1024)) to [64 KiB, 16 MiB]', () => {
    assert.equal(choosePieceSize(0), 64 * KiB);
    assert.equal(choosePieceSize(1), 64 * KiB);
    assert.equal(choosePieceSize(64 * MiB), 64 * KiB);
    assert.equal(choosePieceSize(64 * MiB + 1), 128 * KiB);
    assert.equal(choosePieceSize(1 * GiB), 1 * MiB);
    assert.equal(choosePieceSize(3 * GiB), 4 * MiB);
    assert.equal(choosePieceSize(16 * GiB), 16 * MiB);
    assert.equal(choosePieceSize(1000 * GiB), 16 * MiB);
    assert.throws(() => choosePieceSize(-1), FetchError);
  });

  it('validatePieceSize accepts powers of two >= 16 KiB and rejects the rest with BadArguments', () => {
    assert.equal(validatePieceSize(16 * KiB), 16 * KiB);
    assert.equal(validatePieceSize(4 * MiB), 4 * MiB);
    for (const bad of [0, -16384, 8 * KiB, 16 * KiB + 1, 48 * KiB, 1.5, NaN, Infinity, 2 * GiB]) {
      assert.throws(() => validatePieceSize(bad), (e: unknown) => e instanceof FetchError && e.code === ErrorCode.BadArguments, String(bad));
    }
  });

  it('pieceCount and pieceRange cut the file without padding', () => {
    const ps = 64 * KiB;
    assert.equal(pieceCount(0, ps), 0);
    assert.equal(pieceCount(1, ps), 1);
    assert.equal(pieceCount(ps, ps), 1);
    assert.equal(pieceCount(ps + 1, ps), 2);
    assert.deepEqual(pieceRange(0, ps + 1, ps), { start: 0, end: ps });
    assert.deepEqual(pieceRange(1, ps + 1, ps), { start: ps, end: ps + 1 });
    assert.deepEqual(pieceRange(2, 3 * ps, ps), { start: 2 * ps, end: 3 * ps });
    assert.throws(() => pieceRange(2, ps + 1, ps), /does not exist/);
    assert.throws(() => pieceRange(0, 0, ps), /does not exist/);
    assert.throws(() => pieceRange(-1, 10, ps), /does not exist/);
  });
});
