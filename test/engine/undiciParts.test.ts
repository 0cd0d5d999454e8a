import * as assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as undici from 'undici';
import { buildConnector, Client, Pool, ProxyAgent, requestOn, requestOnce } from '../../src/engine/undiciParts';

describe('undiciParts (undici without its index)', () => {
  let server: http.Server;
  let base: string;
  const sockets = new Set<Socket>();

  before(async () => {
    server = http.createServer((req, res) => {
      const body = Buffer.from(`hello ${req.method} ${req.url}`);
      res.writeHead(200, { 'Content-Length': body.length });
      res.end(body);
    });
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('the deep modules are the very classes undici exports (an update that moves them fails here)', () => {
    assert.equal(Client, undici.Client);
    assert.equal(Pool, undici.Pool);
    assert.equal(ProxyAgent, undici.ProxyAgent);
    assert.equal(buildConnector, undici.buildConnector);
  });

  it('requestOn sends one request on the given dispatcher', async () => {
    const pool = new Pool(base);
    try {
      const response = await requestOn(pool, `${base}/a?b=1`, { method: 'GET' });
      assert.equal(response.statusCode, 200);
      assert.equal(await response.body.text(), 'hello GET /a?b=1');
    } finally {
      await pool.close();
    }
  });

  it('requestOnce closes its connection once the body is read', async () => {
    const response = await requestOnce(`${base}/once`, { method: 'GET' });
    assert.equal(await response.body.text(), 'hello GET /once');
    const deadline = Date.now() + 5_000;
    while (sockets.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(sockets.size, 0, 'the server still holds a connection from requestOnce');
  });

  it('requestOnce rejects when nothing listens, with the connection error', async () => {
    await assert.rejects(requestOnce('http://127.0.0.1:9/none', { method: 'GET' }), /ECONNREFUSED|connect/);
  });
});
