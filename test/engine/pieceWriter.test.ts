import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { leafHash } from '../../src/engine/integrity/merkleTree';
import { PieceOrderError, PieceWriter } from '../../src/engine/pieceWriter';
import { makeArtifact } from '../harness/artifact';

/** The writer thread: bytes land at their offsets, and pieces' leaves come back as they complete. */
describe('engine: the writer thread (PieceWriter)', () => {
  const PIECE = 1024 * 1024;
  let dir: string;
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'af-writer-'));
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  async function open(size: number): Promise<fsp.FileHandle> {
    const handle = await fsp.open(path.join(dir, 'x.part'), 'w+');
    await handle.truncate(size);
    return handle;
  }

  it('writes at the offsets asked (in chunks of any size, across slots) and returns each completed leaf', async () => {
    const size = 5 * PIECE + 12345; // the last piece is short
    const body = makeArtifact(size, 'writer');
    const handle = await open(size);
    const writer = new PieceWriter(handle.fd, { size, pieceSize: PIECE, plain: true });
    try {
      const done = new Map<number, { leaf: Buffer; plain?: Buffer }>();
      // Two "channels": pieces 0-2 in odd-sized chunks, pieces 3-5 in one write larger than a slot.
      const writes: Array<[number, Buffer[]]> = [];
      for (let offset = 0; offset < 3 * PIECE; offset += 333_333) {
        const end = Math.min(3 * PIECE, offset + 333_333);
        writes.push([offset, [body.subarray(offset, offset + 1000), body.subarray(offset + 1000, end)]]);
      }
      writes.push([3 * PIECE, [body.subarray(3 * PIECE)]]);
      for (const [position, buffers] of writes) {
        for (const completed of await writer.write(position, buffers, true)) done.set(completed.index, completed);
      }
      assert.deepEqual([...done.keys()].sort(), [0, 1, 2, 3, 4, 5]);
      for (const [index, { leaf, plain }] of done) {
        const piece = body.subarray(index * PIECE, Math.min(size, (index + 1) * PIECE));
        assert.deepEqual(leaf, leafHash(piece), `leaf of piece ${index}`);
        assert.deepEqual(plain, createHash('sha256').update(piece).digest(), `plain hash of piece ${index}`);
      }
      const onDisk = await fsp.readFile(path.join(dir, 'x.part'));
      assert.ok(onDisk.equals(body), 'the file holds the bytes at their offsets');
    } finally {
      await writer.close();
      await handle.close();
    }
  });

  it('refuses bytes that do not continue a piece where its hash stopped; forget() lets it start over', async () => {
    const size = 2 * PIECE;
    const body = makeArtifact(size, 'writer-order');
    const handle = await open(size);
    const writer = new PieceWriter(handle.fd, { size, pieceSize: PIECE, plain: false });
    try {
      await writer.write(0, [body.subarray(0, 1000)], true);
      await assert.rejects(writer.write(5000, [body.subarray(5000, 6000)], true), PieceOrderError);
      await assert.rejects(writer.write(PIECE + 7, [body.subarray(PIECE + 7, PIECE + 9)], true), /without its start/);
      writer.forget(0);
      const leaves = await writer.write(0, [body.subarray(0, PIECE)], true);
      assert.deepEqual(leaves.map((l) => l.index), [0]);
      assert.deepEqual(leaves[0].leaf, leafHash(body.subarray(0, PIECE)));
      // Plain writes (a racer's piece, a repair) are written but never hashed.
      assert.deepEqual(await writer.write(PIECE, [body.subarray(PIECE)], false), []);
      assert.ok((await fsp.readFile(path.join(dir, 'x.part'))).equals(body));
    } finally {
      await writer.close();
      await handle.close();
    }
  });

  it('a failed write rejects with the system error code; after close every write rejects', async () => {
    const file = path.join(dir, 'ro.part');
    await fsp.writeFile(file, Buffer.alloc(PIECE));
    const readOnly = await fsp.open(file, 'r');
    const writer = new PieceWriter(readOnly.fd, { size: PIECE, pieceSize: PIECE, plain: false });
    try {
      await assert.rejects(writer.write(0, [Buffer.alloc(10)], true), (error: NodeJS.ErrnoException) => error.code === 'EBADF');
    } finally {
      await writer.close();
      await readOnly.close();
    }
    await assert.rejects(writer.write(0, [Buffer.alloc(10)], false), /writer thread stopped/);
  });
});
