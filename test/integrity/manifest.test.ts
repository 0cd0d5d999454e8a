import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ErrorCode, FetchError } from '../../src/engine/errors';
import { verifyFile } from '../../src/engine/integrity/fileVerifier';
import {
  MANIFEST_FORMAT,
  createManifest,
  hashFile,
  parseManifest,
  serializeManifest,
  type Manifest,
} from '../../src/engine/integrity/manifest';

const KiB = 1024;
const isCode = (code: string, pattern?: RegExp) => (e: unknown): boolean =>
  e instanceof FetchError && e.code === code && (!pattern || pattern.test(e.message));

describe('manifest and fileVerifier', () => {
  let dir: string;
  let file: string;
  let data: Buffer;
  const pieceSize = 16 * KiB;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'af-manifest-'));
    file = path.join(dir, 'artifact.bin');
    data = randomBytes(5 * pieceSize + 1234); // 6 pieces, the last one short
    fs.writeFileSync(file, data);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('hashFile streams the same sha256 and leaves as hashing in memory', async () => {
    const digest = await hashFile(file, pieceSize);
    assert.equal(digest.size, data.length);
    assert.equal(digest.sha256, createHash('sha256').update(data).digest('hex'));
    assert.equal(digest.leaves.length, 6);
    const lastPiece = data.subarray(5 * pieceSize);
    assert.equal(digest.leaves[5], createHash('sha256').update(Buffer.from([0])).update(lastPiece).digest('hex'));
  });

  it('round-trips through serialize/parse on a real file', async () => {
    const manifest = await createManifest(file, pieceSize);
    assert.equal(manifest.format, MANIFEST_FORMAT);
    assert.equal(manifest.name, 'artifact.bin');
    const text = serializeManifest(manifest);
    assert.deepEqual(parseManifest(text), manifest);
    assert.equal(serializeManifest(parseManifest(text)), text);
    const result = await verifyFile(file, { manifest: parseManifest(text) });
    assert.ok(result.ok, result.message);
    assert.deepEqual(result.badPieces, []);
  });

  it('default piece size and an empty file', async () => {
    const empty = path.join(dir, 'empty.bin');
    fs.writeFileSync(empty, '');
    const manifest = await createManifest(empty);
    assert.equal(manifest.pieceSize, 64 * KiB);
    assert.equal(manifest.root, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.deepEqual(manifest.leaves, []);
    assert.ok((await verifyFile(empty, { manifest })).ok);
    const lie = { ...JSON.parse(serializeManifest(manifest)), root: 'ab'.repeat(32), leaves: undefined };
    assert.throws(() => parseManifest(JSON.stringify(lie)), /empty file/);
  });

  it('rejects a manifest whose size or pieceSize was changed (leaves no longer fit)', async () => {
    const good = JSON.parse(serializeManifest(await createManifest(file, pieceSize)));
    for (const changed of [
      { ...good, size: good.size + pieceSize }, // one more piece than leaves
      { ...good, size: good.size - 1300 }, // one piece fewer
      { ...good, pieceSize: pieceSize * 2 },
      { ...good, pieceSize: pieceSize * 4 },
    ]) {
      assert.throws(() => parseManifest(JSON.stringify(changed)), isCode(ErrorCode.BadArguments, /leaves/), JSON.stringify({ s: changed.size, p: changed.pieceSize }));
    }
    // Same piece count, smaller size: the leaves still fit, but the file no longer matches it.
    const shrunk = parseManifest(JSON.stringify({ ...good, size: good.size - 1 }));
    const result = await verifyFile(file, { manifest: shrunk });
    assert.ok(!result.ok);
    assert.match(result.message, /size/);
  });

  it('rejects tampered leaves, unknown fields and malformed values with specific messages', async () => {
    const good = JSON.parse(serializeManifest(await createManifest(file, pieceSize)));
    const swapped = [...good.leaves];
    [swapped[1], swapped[2]] = [swapped[2], swapped[1]];
    const cases: Array<[unknown, RegExp]> = [
      [{ ...good, leaves: swapped }, /do not hash up to "root"/],
      [{ ...good, leaves: [...good.leaves, good.leaves[5]] }, /has 7 entries/],
      [{ ...good, extra: 1 }, /unknown field/],
      [{ ...good, format: 'artifact-fetch/manifest@2' }, /"format"/],
      [{ ...good, hash: 'sha1' }, /"hash"/],
      [{ ...good, tree: 'bitcoin' }, /"tree"/],
      [{ ...good, root: 'xyz' }, /"root" must be 64 hex/],
      [{ ...good, sha256: 12 }, /"sha256" must be 64 hex/],
      [{ ...good, size: -1 }, /"size"/],
      [{ ...good, size: '10' }, /"size"/],
      [{ ...good, pieceSize: 1000 }, /"pieceSize"/],
      [{ ...good, leaves: 'abc' }, /"leaves" must be an array/],
      [[good], /JSON object/],
    ];
    for (const [value, pattern] of cases) {
      assert.throws(() => parseManifest(JSON.stringify(value)), isCode(ErrorCode.BadArguments, pattern), String(pattern));
    }
    assert.throws(() => parseManifest('{not json'), isCode(ErrorCode.BadArguments, /not valid JSON/));
    assert.throws(() => parseManifest(JSON.stringify({ ...good, name: '../../evil' })), isCode(ErrorCode.UnsafePath));
  });

  it('verifyFile names the bad piece after a byte is flipped on disk', async () => {
    const manifest: Manifest = await createManifest(file, pieceSize);
    const fd = fs.openSync(file, 'r+');
    try {
      const offset = 3 * pieceSize + 77;
      fs.writeSync(fd, Buffer.from([data[offset] ^ 0xff]), 0, 1, offset);
      const result = await verifyFile(file, { manifest });
      assert.ok(!result.ok);
      assert.deepEqual(result.badPieces, [3]);
      assert.match(result.message, /piece 3 /);
      assert.match(result.message, /sha256 differs/);

      const rootOnly = await verifyFile(file, { root: manifest.root, pieceSize });
      assert.ok(!rootOnly.ok);
      assert.deepEqual(rootOnly.badPieces, []);
      assert.match(rootOnly.message, /root differs \(no leaf hashes were given/);

      assert.ok(!(await verifyFile(file, { sha256: manifest.sha256 as string })).ok);
    } finally {
      fs.writeSync(fd, data.subarray(3 * pieceSize + 77, 3 * pieceSize + 78), 0, 1, 3 * pieceSize + 77);
      fs.closeSync(fd);
    }
    assert.ok((await verifyFile(file, { root: manifest.root, pieceSize, sha256: manifest.sha256 })).ok);
  });

  it('verifyFile on a truncated file names the missing pieces', async () => {
    const manifest = await createManifest(file, pieceSize);
    const short = path.join(dir, 'short.bin');
    fs.writeFileSync(short, data.subarray(0, 2 * pieceSize + 5));
    const result = await verifyFile(short, { manifest });
    assert.ok(!result.ok);
    assert.deepEqual(result.badPieces, [2, 3, 4, 5]);
  });

  it('verifyFile refuses to say ok with nothing to check, and reports unreadable files as Disk', async () => {
    await assert.rejects(verifyFile(file, {}), isCode(ErrorCode.BadArguments));
    await assert.rejects(verifyFile(file, { root: 'ab'.repeat(32) }), isCode(ErrorCode.BadArguments, /piece size/));
    await assert.rejects(verifyFile(path.join(dir, 'missing.bin'), { sha256: 'ab'.repeat(32) }), isCode(ErrorCode.Disk));
  });
});
