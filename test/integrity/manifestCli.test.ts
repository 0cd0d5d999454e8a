import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseManifest } from '../../src/engine/integrity/manifest';
import { runCli } from './cliRunner';
import { makeArtifact, sha256Hex } from '../harness/artifact';


describe('artifact-fetch manifest / verify', function () {
  this.timeout(30_000);
  let dir: string;
  const body = makeArtifact(3 * 1024 * 1024 + 12_345, 'manifest-cli');

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'af-manifest-'));
    await fs.writeFile(path.join(dir, 'model.bin'), body);
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('writes a manifest whose leaves hash up to its root, then verifies the file with it, by root and by SHA-256', async () => {
    const file = path.join(dir, 'model.bin');
    const made = await runCli(['manifest', file, '--piece-size', '256K']);
    assert.equal(made.code, 0, made.stderr);
    const manifestPath = `${file}.manifest.json`;
    const manifest = parseManifest(await fs.readFile(manifestPath, 'utf8')); // checks leaves → root
    assert.equal(manifest.size, body.length);
    assert.equal(manifest.pieceSize, 256 * 1024);
    assert.equal(manifest.leaves!.length, Math.ceil(body.length / (256 * 1024)));
    assert.equal(manifest.sha256, sha256Hex(body));
    for (const args of [['--manifest', manifestPath], ['--root', manifest.root, '--piece-size', '262144'], ['--sha256', sha256Hex(body)]]) {
      const checked = await runCli(['verify', file, ...args, '--json']);
      assert.equal(checked.code, 0, `${args[0]}: ${checked.stderr}`);
      assert.equal(JSON.parse(checked.stdout).ok, true);
    }
    // An existing manifest is never overwritten.
    const again = await runCli(['manifest', file, '--piece-size', '256K']);
    assert.equal(again.code, 6);
  });

  it('verify names the first bad pieces after a byte flips on disk, and exits 4', async () => {
    const file = path.join(dir, 'model.bin');
    assert.equal((await runCli(['manifest', file, '--piece-size', '64K'])).code, 0);
    const damaged = Buffer.from(body);
    damaged[5 * 65536 + 7] ^= 1;
    damaged[40 * 65536] ^= 1;
    await fs.writeFile(file, damaged);
    const checked = await runCli(['verify', file, '--manifest', `${file}.manifest.json`, '--json']);
    assert.equal(checked.code, 4);
    const result = JSON.parse(checked.stdout);
    assert.equal(result.ok, false);
    assert.deepEqual(result.badPieces, [5, 40]);
  });

  it('refuses a root without its piece size, and a piece size that is not a power of two', async () => {
    const file = path.join(dir, 'model.bin');
    const noSize = await runCli(['verify', file, '--root', 'a'.repeat(64)]);
    assert.equal(noSize.code, 2);
    const odd = await runCli(['manifest', file, '--piece-size', '100000']);
    assert.equal(odd.code, 2);
    assert.match(odd.stderr, /power of two/);
  });
});
