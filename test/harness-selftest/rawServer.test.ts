import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { chunkedBody, rawHttpResponse, startRawServer, type RawServer } from '../harness/rawServer';
import { httpGet } from './httpGet';

/** Sends a request over a plain socket and returns every byte of the answer. */
function rawExchange(port: number, request: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

describe('harness: rawServer', () => {
  let server: RawServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('writes the scripted bytes exactly, duplicate headers included', async () => {
    const response = rawHttpResponse(302, [
      ['Location', '/a'],
      ['Location', '/b'],
      ['Content-Length', '0'],
    ]);
    server = await startRawServer([response]);
    const received = await rawExchange(server.port, 'GET /x HTTP/1.1\r\nHost: t\r\n\r\n');
    assert.equal(received.toString('latin1'), 'HTTP/1.1 302 Found\r\nLocation: /a\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n');
    assert.equal(server.requests[0].head, 'GET /x HTTP/1.1\r\nHost: t');
  });

  it('serves a chunked body cut before its last chunk, which a client rejects', async () => {
    server = await startRawServer([rawHttpResponse(200, [['Transfer-Encoding', 'chunked']]), chunkedBody(['hello ', 'wor'], { terminate: false })]);
    const response = await httpGet(server.url('/file'));
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), 'hello wor');
    assert.ok(response.error, 'a truncated chunked body must be an error');
  });

  it('computes the answer per request, with pauses and resets', async () => {
    server = await startRawServer((request) =>
      request.index === 0 ? [{ delayMs: 100 }, 'reset'] : [rawHttpResponse(200, [['Content-Length', '2']], 'ok')],
    );
    const first = await httpGet(server.url());
    assert.equal(first.error, 'ECONNRESET');
    assert.ok(first.elapsedMs >= 95);
    const second = await httpGet(server.url());
    assert.equal(second.body.toString(), 'ok');
  });
});
