import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DownloadJob } from '../../src/engine/downloadJob';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { startConnectProxy, type ConnectProxy } from '../harness/connectProxy';
import { startMirror, type Mirror, type MirrorRequest } from '../harness/mirrorServer';
import { testCa } from '../harness/testCa';
import { startTlsFront, type TlsFront } from '../harness/tlsFront';

describe('engine: routes', function () {
  this.timeout(30_000);
  let dir: string;
  let mirror: Mirror | undefined;
  let proxy: ConnectProxy | undefined;
  let second: ConnectProxy | undefined;
  let tlsFront: TlsFront | undefined;
  const body = makeArtifact(8 * 1024 * 1024, 'routes');

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'af-routes-'));
  });
  afterEach(async () => {
    await mirror?.close();
    await proxy?.close();
    await second?.close();
    await tlsFront?.close();
    mirror = proxy = second = tlsFront = undefined;
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

  it('reaches the origin through an HTTPS proxy (TLS to the proxy, then the tunnel)', async () => {
    mirror = await startMirror({ body, bytesPerSecond: 20e6 });
    proxy = await startConnectProxy();
    const ca = testCa();
    tlsFront = await startTlsFront({ host: '127.0.0.1', port: Number(new URL(proxy.url).port) }, ca.server);
    const output = path.join(dir, 'https-proxy.bin');
    const result = await new DownloadJob({
      sources: [{ url: mirror.url, proxy: tlsFront.origin }],
      outputPath: output,
      ca: ca.caPem,
      expected: { sha256: sha256Hex(body) },
    }).run();
    assert.equal(result.ok, true, JSON.stringify(result.error));
    assert.equal(sha256Hex(await fs.readFile(output)), sha256Hex(body));
    assert.ok(tlsFront.handshakes > 0 && tlsFront.failedHandshakes === 0, `handshakes ${tlsFront.handshakes}, failed ${tlsFront.failedHandshakes}`);
    assert.ok(proxy.tunnels.length > 0 && proxy.bytesDown >= body.length, `the tunnel carried ${proxy.bytesDown} bytes`);
  });

  it('splits the bytes between two proxy routes to one origin in proportion to their caps', async () => {
    const big = makeArtifact(24 * 1024 * 1024, 'two-routes');
    mirror = await startMirror({ body: big });
    proxy = await startConnectProxy({ bytesPerSecond: 3e6 });
    second = await startConnectProxy({ bytesPerSecond: 12e6 });
    const output = path.join(dir, 'two-routes.bin');
    const result = await new DownloadJob({
      sources: [{ url: mirror.url, proxy: proxy.url }, { url: mirror.url, proxy: second.url }],
      outputPath: output,
      expected: { sha256: sha256Hex(big) },
    }).run();
    assert.equal(result.ok, true, JSON.stringify(result.error));
    const [slow, fast] = result.sources.map((s) => s.bytes);
    // Caps 1:4; a busy machine blurs the split, but the faster route must clearly carry more.
    assert.ok(fast > 2 * slow, `the 12 MB/s route carried ${fast} bytes, the 3 MB/s one ${slow}`);
    assert.ok(slow > 0, 'the slow route still contributed');
    assert.ok(second.bytesDown > 2 * proxy.bytesDown, `proxy bytes ${proxy.bytesDown} vs ${second.bytesDown}`);
  });

  it('binds a source to its local address: the server sees the connection from 127.0.0.2', async () => {
    const peers: string[] = [];
    mirror = await startMirror({
      body,
      onRequest: (req) => { peers.push(req.socket.remoteAddress ?? ''); return false; },
    });
    const output = path.join(dir, 'bound.bin');
    const result = await new DownloadJob({ sources: [{ url: mirror.url, localAddress: '127.0.0.2' }], outputPath: output }).run();
    assert.equal(result.ok, true, JSON.stringify(result.error));
    assert.ok(peers.length > 0);
    assert.deepEqual([...new Set(peers.map(plainIp))], ['127.0.0.2']);
  });

  it('the same origin from 127.0.0.1 and 127.0.0.2 is two sources, each with its own connections and bytes', async () => {
    const peerOf = new Map<MirrorRequest, string>();
    mirror = await startMirror({
      body,
      bytesPerSecond: 16e6,
      onRequest: (req, _res, { entry }) => { peerOf.set(entry, plainIp(req.socket.remoteAddress ?? '')); return false; },
    });
    const output = path.join(dir, 'two-addresses.bin');
    const job = new DownloadJob({
      sources: [{ url: mirror.url, localAddress: '127.0.0.1' }, { url: mirror.url, localAddress: '127.0.0.2' }],
      outputPath: output,
      expected: { sha256: sha256Hex(body) },
    });
    const result = await job.run();
    assert.equal(result.ok, true, JSON.stringify(result.error));
    const bytesByPeer = new Map<string, number>();
    for (const [entry, peer] of peerOf) bytesByPeer.set(peer, (bytesByPeer.get(peer) ?? 0) + entry.bytesSent);
    assert.deepEqual([...bytesByPeer.keys()].sort(), ['127.0.0.1', '127.0.0.2']);
    assert.ok([...bytesByPeer.values()].every((bytes) => bytes > 64 * 1024), JSON.stringify([...bytesByPeer]));
    assert.ok(result.sources[0].bytes > 0 && result.sources[1].bytes > 0, result.sources.map((s) => s.bytes).join(', '));
    assert.equal(job.snapshot().sources[1].localAddress, '127.0.0.2');
  });

  it('refuses a local address that is not an IP address', async () => {
    const result = await new DownloadJob({ sources: [{ url: 'http://127.0.0.1:9/x', localAddress: 'eth0' }], outputPath: path.join(dir, 'x.bin') }).run();
    assert.equal(result.ok, false);
    assert.equal(result.error?.code, 'E_BAD_ARGUMENTS');
    assert.match(result.error?.message ?? '', /local address/);
  });
});

/** `::ffff:127.0.0.2` → `127.0.0.2` (dual-stack servers report IPv4 peers mapped). */
function plainIp(address: string): string {
  return address.replace(/^::ffff:/, '');
}
