/**
 * The whole-file SHA-256 (prefixHasher.ts) over a real part file: a small file is hashed on the
 * job's thread at the end, a file over INLINE_HASH_MAX_BYTES by a thread that follows the done
 * prefix. Both must give the file's SHA-256, again after a restart (a repair), and neither may
 * give one before every piece is done.
 */
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PartFile } from '../../src/engine/partFile';
import { PieceStore } from '../../src/engine/pieceStore';
import { INLINE_HASH_MAX_BYTES, PrefixHasher } from '../../src/engine/prefixHasher';

const PIECE = 1024 * 1024;

describe('engine: whole-file hash (prefix hasher)', () => {
  let dir: string;
  const open: Array<{ close(): Promise<void> }> = [];

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'af-prefix-'));
  });
  afterEach(async () => {
    for (const closable of open.splice(0)) await closable.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** A part file holding `bytes`, its pieces not yet done, and a hasher attached to both. */
  async function setUp(bytes: Buffer): Promise<{ pieces: PieceStore; hasher: PrefixHasher; partFile: PartFile }> {
    const partPath = path.join(dir, 'artifact.part');
    const partFile = await PartFile.create(partPath);
    await partFile.resize(bytes.length, bytes.length);
    await partFile.write([bytes], 0);
    const pieces = new PieceStore(bytes.length, PIECE);
    const hasher = new PrefixHasher(partPath);
    open.push(hasher, partFile);
    hasher.attach(pieces, partFile);
    return { pieces, hasher, partFile };
  }

  function markDone(pieces: PieceStore, from: number, to: number): void {
    for (let index = from; index < to; index++) pieces.markDone(index, Buffer.alloc(32), [0]);
  }

  const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

  it('hashes a small file on the job thread (no thread started), and again after a restart', async () => {
    const bytes = randomBytes(3 * PIECE + 5);
    const { pieces, hasher } = await setUp(bytes);
    assert.equal(hasher.usesThread, false);
    markDone(pieces, 0, 2);
    hasher.kick();
    await assert.rejects(hasher.finish(), /before every piece is done/);
    markDone(pieces, 2, pieces.count);
    assert.equal(await hasher.finish(), sha256(bytes));
    await hasher.restart();
    assert.equal(await hasher.finish(), sha256(bytes));
  });

  it('a small part file shorter than its layout fails the hash instead of hashing less', async () => {
    const bytes = randomBytes(2 * PIECE);
    const { pieces, hasher, partFile } = await setUp(bytes);
    await partFile.resize(PIECE, 0);
    markDone(pieces, 0, pieces.count);
    await assert.rejects(hasher.finish(), /shorter than expected/);
  });

  it('hashes a file over the inline limit on its own thread, following the done prefix', async () => {
    const bytes = randomBytes(INLINE_HASH_MAX_BYTES + 3 * PIECE + 17);
    const { pieces, hasher } = await setUp(bytes);
    assert.equal(hasher.usesThread, true);
    // Done out of order: the thread may only hash the contiguous prefix.
    markDone(pieces, 8, pieces.count);
    hasher.kick();
    markDone(pieces, 0, 8);
    assert.equal(await hasher.finish(), sha256(bytes));
    await hasher.restart();
    hasher.kick();
    assert.equal(await hasher.finish(), sha256(bytes));
  });
});
