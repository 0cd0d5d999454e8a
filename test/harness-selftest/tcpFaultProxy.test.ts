import * as assert from 'node:assert/strict';
import { makeArtifact } from '../harness/artifact';
import { startMirror, type Mirror } from '../harness/mirrorServer';
import { startProxy, type FaultProxy, type ProxyMode } from '../harness/tcpFaultProxy';
import { httpGet } from './httpGet';

describe('harness: tcpFaultProxy', () => {
  const body = makeArtifact(2 * 1024 * 1024, 'proxy-selftest');
  let mirror: Mirror;
  const proxies: FaultProxy[] = [];
  const proxied = async (mode: ProxyMode) => {
    const proxy = await startProxy({ host: '127.0.0.1', port: mirror.port }, mode);
    proxies.push(proxy);
    return proxy;
  };

  beforeEach(async () => {
    mirror = await startMirror({ body });
  });
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
    await mirror.close();
  });

  it('passes bytes through untouched', async () => {
    const proxy = await proxied({ kind: 'pass' });
    const response = await httpGet(proxy.url('/artifact.bin'));
    assert.ok(response.body.equals(body));
    assert.equal(proxy.connections, 1);
    assert.ok(proxy.bytesDown > body.length);
  });

  it('accepts a host:port target', async () => {
    const proxy = await startProxy(`127.0.0.1:${mirror.port}`);
    proxies.push(proxy);
    assert.equal((await httpGet(proxy.url('/a'), { headers: { Range: 'bytes=0-9' } })).status, 206);
  });

  it('delays connection setup and every chunk', async () => {
    const proxy = await proxied({ kind: 'delay', connectMs: 150, chunkMs: 50 });
    const response = await httpGet(proxy.url('/a'), { headers: { Range: 'bytes=0-99' } });
    // 150 ms before connecting, then the request and the response each wait 50 ms.
    assert.ok(response.headersMs >= 240, `headers after ${response.headersMs} ms`);
    assert.ok(response.body.equals(body.subarray(0, 100)));
  });

  it('stalls after N downstream bytes and keeps the connection open', async () => {
    const proxy = await proxied({ kind: 'stall', afterBytes: 10_000 });
    const response = await httpGet(proxy.url('/a'), { timeoutMs: 400 });
    assert.equal(response.error, 'timeout');
    assert.equal(response.status, 200);
    assert.ok(response.body.length > 0 && response.body.length < 10_000, `${response.body.length} body bytes`);
  });

  it('resets after N downstream bytes', async () => {
    const proxy = await proxied({ kind: 'reset', afterBytes: 50_000 });
    const response = await httpGet(proxy.url('/a'));
    assert.equal(response.socketError, 'ECONNRESET');
    assert.ok(response.body.length > 40_000 && response.body.length < 50_000, `${response.body.length} body bytes`);
  });

  it('trickles at bytesPerSecond', async () => {
    const proxy = await proxied({ kind: 'trickle', bytesPerSecond: 200_000 });
    const response = await httpGet(proxy.url('/a'), { timeoutMs: 500 });
    assert.ok(Math.abs(response.body.length - 100_000) < 25_000, `${response.body.length} bytes in 0.5 s`);
  });

  it('black-holes: accepts but never answers, and never reaches the target', async () => {
    const proxy = await proxied({ kind: 'blackhole' });
    const response = await httpGet(proxy.url('/a'), { timeoutMs: 300 });
    assert.equal(response.error, 'timeout');
    assert.equal(response.status, 0);
    assert.equal(mirror.socketsAccepted, 0);
  });

  it('applies setMode to new connections', async () => {
    const proxy = await proxied({ kind: 'blackhole' });
    proxy.setMode({ kind: 'pass' });
    assert.equal((await httpGet(proxy.url('/a'), { headers: { Range: 'bytes=0-0' } })).status, 206);
  });
});
