import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DownloadJob } from '../../src/engine/downloadJob';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { startConnectProxy, type ConnectProxy } from '../harness/connectProxy';
import { startMirror, type Mirror } from '../harness/mirrorServer';

describe('engine: routes', function () {
  this.timeout(30_000);
  let dir: string;
  let mirror: Mirror | undefined;
  let proxy: ConnectProxy | undefined;
  const body = makeArtifact(8 * 1024 * 1024, 'routes');

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'af-routes-'));
  });
  afterEach(async () => {
    await mirror?.close();
    await proxy?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('reaches the same origin directly and through an HTTP proxy as two sources, each measured on its own', async () => {
    mirror = await startMirror({ body, bytesPerSecond: 12e6 });
    proxy = await startConnectProxy();
    const output = path.join(dir, 'routed.bin');
    const job = new DownloadJob({
      sources: [{ url: mirror.url }, { url: mirror.url, proxy: proxy.url }],
      outputPath: output,
      expected: { sha256: sha256Hex(body) },
    });
    const result = await job.run();
    assert.equal(result.ok, true, JSON.stringify(result.error));
    assert.equal(sha256Hex(await fs.readFile(output)), sha256Hex(body));
    assert.ok(proxy.tunnels.length > 0, 'the proxied source opened tunnels');
    assert.ok(proxy.tunnels.every((t) => t === `127.0.0.1:${mirror!.port}`), `tunnels went to ${proxy.tunnels.join(', ')}`);
    assert.ok(proxy.bytesDown > 64 * 1024, 'bytes came through the proxy');
    assert.ok(result.sources[0].bytes > 0 && result.sources[1].bytes > 0, `both routes contributed: ${result.sources.map((s) => s.bytes).join(', ')}`);
    const snapshot = job.snapshot();
    assert.equal(snapshot.sources[1].route, proxy.url + '/');
    assert.equal(snapshot.sources[0].route, undefined);
  });

  it('a dead proxy route is excluded with its cause while the direct route finishes', async () => {
    mirror = await startMirror({ body, bytesPerSecond: 20e6 });
    const output = path.join(dir, 'dead-route.bin');
    const job = new DownloadJob({ sources: [{ url: mirror.url }, { url: mirror.url, proxy: 'http://127.0.0.1:9' }], outputPath: output });
    const result = await job.run();
    assert.equal(result.ok, true, JSON.stringify(result.error));
    assert.equal(result.sources[1].bytes, 0);
    assert.ok(['excluded', 'probing', 'dropped', 'waiting'].includes(result.sources[1].state), result.sources[1].state);
    assert.match(result.sources[1].reason, /ECONNREFUSED|proxy|connect/i);
  });
});
