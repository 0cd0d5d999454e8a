import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from './cliRunner';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { startMirror, type Mirror } from '../harness/mirrorServer';

const SIZE = 6 * 1024 * 1024;
const PIECE = 256 * 1024;

describe('get <file.meta4> (RFC 5854)', function () {
  this.timeout(60_000);
  let dir: string;
  let mirrors: Mirror[] = [];
  const body = makeArtifact(SIZE, 'metalink');

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'af-metalink-'));
  });
  afterEach(async () => {
    await Promise.all(mirrors.map((m) => m.close()));
    mirrors = [];
    await fs.rm(dir, { recursive: true, force: true });
  });

  function meta4(urls: Array<{ url: string; priority: number; location: string }>): string {
    const pieces: string[] = [];
    for (let offset = 0; offset < SIZE; offset += PIECE) pieces.push(createHash('sha256').update(body.subarray(offset, offset + PIECE)).digest('hex'));
    return `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="dataset.tar">
    <size>${SIZE}</size>
    <hash type="sha-256">${sha256Hex(body)}</hash>
    <pieces length="${PIECE}" type="sha-256">
${pieces.map((h) => `      <hash>${h}</hash>`).join('\n')}
    </pieces>
${urls.map((u) => `    <url priority="${u.priority}" location="${u.location}">${u.url}</url>`).join('\n')}
  </file>
</metalink>`;
  }

  it('downloads into the named file, checks every piece against the Metalink piece hashes and bans a corrupt mirror', async () => {
    mirrors = await Promise.all([
      startMirror({ body, bytesPerSecond: 6e6 }),
      startMirror({ body, bytesPerSecond: 6e6, corrupt: { everyBytes: 400_009 } }),
      startMirror({ body, bytesPerSecond: 3e6 }),
    ]);
    const file = path.join(dir, 'dataset.meta4');
    await fs.writeFile(file, meta4(mirrors.map((m, i) => ({ url: m.url, priority: i + 1, location: i === 2 ? 'de' : 'us' }))));
    const { code, stdout, stderr } = await runCli(['get', file, '-o', dir, '--json']);
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout);
    assert.equal(result.path, path.join(dir, 'dataset.tar'));
    assert.equal(result.verifiedBy, 'sha256');
    assert.equal(sha256Hex(await fs.readFile(result.path)), sha256Hex(body));
    // Usually its first corrupt piece bans it; now and then the identity spot check (a random
    // 16 KiB block) already shows the difference and excludes it before any piece.
    // (Pieces it sent that matched their hash were kept: each one was checked.)
    if (result.sources[1].state === 'banned') assert.match(result.sources[1].reason, /sent corrupt data for piece/);
    else {
      assert.match(`${result.sources[1].state}: ${result.sources[1].reason}`, /excluded: .*differs from the primary/);
      assert.equal(result.sources[1].bytes, 0);
    }
    assert.equal(result.repair, undefined, 'piece hashes caught it: no whole-file repair was needed');
  });

  it('refuses a metalink whose file name would escape the folder', async () => {
    const file = path.join(dir, 'evil.meta4');
    await fs.writeFile(file, meta4([{ url: 'http://127.0.0.1:9/x', priority: 1, location: 'us' }]).replace('name="dataset.tar"', 'name="../../evil.sh"'));
    const { code, stderr } = await runCli(['get', file, '-o', dir]);
    assert.equal(code, 8, 'exit code for an unsafe path');
    assert.match(stderr, /E_UNSAFE_PATH/);
    assert.deepEqual((await fs.readdir(dir)).sort(), ['evil.meta4']);
  });
});
