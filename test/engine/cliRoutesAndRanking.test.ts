import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import type { MirrorRequest } from '../harness/mirrorServer';
import { MiB, assertFileEquals, buildCli, runCli, useFixtures } from './fixtures';

describe('engine: the CLI routes and ranking flags', function () {
  this.timeout(30_000);
  const fx = useFixtures();
  const body = makeArtifact(2 * MiB, 'cli-routes');
  const sha256 = sha256Hex(body);

  before(async function () {
    this.timeout(60_000);
    await buildCli();
  });

  it('--bind-route adds the URL from another local address as one more source; the ranking flags are accepted', async () => {
    const peers = new Map<MirrorRequest, string>();
    const mirror = await fx.mirror({ body, bytesPerSecond: 8e6, onRequest: (req, _res, { entry }) => { peers.set(entry, (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '')); return false; } });
    const dir = await fx.tempDir();
    const script = path.join(dir, 'rank.js');
    await fsp.writeFile(script, 'process.stdout.write(JSON.stringify({ scores: {} }));');
    const output = path.join(dir, 'out.bin');
    const run = await runCli([
      'get', mirror.url, '-o', output, '--sha256', sha256, '--json',
      '--bind-route', `${mirror.origin}/=127.0.0.2`,
      '--location', 'DE', '--max-expensive-share', '25%', '--ranking-command', `"${process.execPath}" "${script}"`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { sources: Array<{ url: string }> };
    assert.equal(result.sources.length, 2);
    assert.ok([...peers.values()].includes('127.0.0.2'), `peers: ${[...new Set(peers.values())].join(', ')}`);
    await assertFileEquals(output, body);
  });

  it('gzip+<url> names a source that serves a gzip-compressed copy', async () => {
    const plain = await fx.mirror({ body, bytesPerSecond: 2e6 });
    const gz = await fx.mirror({ body: gzipSync(body), host: '127.0.0.2', path: '/artifact.bin.gz' });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'gz.bin');
    const run = await runCli(['get', plain.url, `gzip+${gz.url}`, '-o', output, '--sha256', sha256, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { sources: Array<{ url: string; bytes: number }> };
    assert.equal(result.sources[1].url, gz.url);
    assert.ok(result.sources[1].bytes > 0, `the gzip source carried ${result.sources[1].bytes}`);
    assert.ok(gz.requests.length > 0 && gz.requests.every((r) => r.range === 'bytes=0-'));
    await assertFileEquals(output, body);
  });

  it('bad route and ranking values exit 2 naming the flag', async () => {
    const dir = await fx.tempDir();
    const output = path.join(dir, 'out.bin');
    for (const [args, pattern] of [
      [['--bind-route', 'http://127.0.0.1:9/=eth0'], /--bind-route: "eth0" is not an IP address/],
      [['--max-expensive-share', '1.5'], /--max-expensive-share expects a share/],
      [['--location', 'Germany'], /--location expects a two-letter/],
      [['--ranking-url', 'file:///etc/passwd'], /--ranking-url expects an http\(s\) URL/],
    ] as Array<[string[], RegExp]>) {
      const run = await runCli(['get', 'http://127.0.0.1:9/a.bin', '-o', output, ...args]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, pattern);
    }
  });
});
