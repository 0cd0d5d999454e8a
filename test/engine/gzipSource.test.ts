import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { decodeBounded, openDecodedBody } from '../../src/engine/adapters/gzipSource';
import { HttpTransport } from '../../src/engine/httpTransport';
import { SourceRuntime } from '../../src/engine/sourceRuntime';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { MiB, assertFileEquals, runJob, useFixtures, type Fixtures } from './fixtures';

const PIECE = 256 * 1024;

function pieceHashes(data: Buffer): string[] {
  const hashes: string[] = [];
  for (let offset = 0; offset < data.length; offset += PIECE) hashes.push(createHash('sha256').update(data.subarray(offset, offset + PIECE)).digest('hex'));
  return hashes;
}

/**
 * A server whose body is `prefix` followed by gzip members of zeros for as long as the client
 * reads: an endless decompression bomb (1000:1). Counts what it wrote and whether the client hung up.
 */
async function startBombServer(fx: Fixtures, prefix: Buffer): Promise<{ url: string; bytesWritten: () => number; closed: () => boolean }> {
  const zeros = gzipSync(Buffer.alloc(4 * MiB));
  let written = 0;
  let closed = false;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/gzip' });
    res.on('close', () => { closed = true; });
    let sentPrefix = false;
    const pump = (): void => {
      while (!res.destroyed) {
        const chunk = sentPrefix ? zeros : prefix;
        sentPrefix = true;
        written += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fx.defer(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/a.bin.gz`, bytesWritten: () => written, closed: () => closed };
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('engine: gzip-only sources (channel adapter)', function () {
  this.timeout(30_000);
  const fx = useFixtures();
  const SIZE = 8 * MiB;
  const body = makeArtifact(SIZE, 'gzip-source');
  const sha256 = sha256Hex(body);

  it('decodes a gzip body to exactly its plain bytes', async () => {
    const { Readable } = await import('node:stream');
    const decoded = decodeBounded(Readable.from([gzipSync(body)]), SIZE);
    assert.ok((await readAll(decoded)).equals(body));
    assert.equal(decoded.overflowed, false);
  });

  it('cuts a decompression bomb off at the limit and closes the connection', async () => {
    const bomb = await startBombServer(fx, Buffer.alloc(0));
    const transport = new HttpTransport();
    fx.defer(() => transport.close());
    const response = await openDecodedBody(transport, new SourceRuntime(0, { url: bomb.url, encoding: 'gzip' }), { limit: 3 * MiB });
    const decoded = await readAll(response.body);
    assert.equal(decoded.length, 3 * MiB, 'exactly the limit, not one byte more');
    assert.ok(decoded.every((byte) => byte === 0));
    assert.equal((response.body as unknown as { overflowed: boolean }).overflowed, true);
    // 3 MiB of zeros is ~3 KiB compressed: the server got far less than one more member through.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(bomb.closed(), 'the compressed body was closed');
    assert.ok(bomb.bytesWritten() < 8 * MiB, `the server wrote ${bomb.bytesWritten()} bytes`);
  });

  it('one plain throttled mirror plus one gzip-only mirror produce the exact file, both contributing', async () => {
    const plain = await fx.mirror({ body, bytesPerSecond: 3e6 });
    const gz = await fx.mirror({ body: gzipSync(body), bytesPerSecond: 12e6, host: '127.0.0.2', path: '/artifact.bin.gz' });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'mixed.bin');
    const { result, job } = await runJob(fx, { sources: [{ url: plain.url }, { url: gz.url, encoding: 'gzip' }], outputPath: output, expected: { sha256 } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.ok(result.sources[0].bytes > 0 && result.sources[1].bytes > 0, `bytes: ${result.sources.map((s) => s.bytes).join(', ')}`);
    assert.equal(result.sources[0].bytes + result.sources[1].bytes, SIZE);
    assert.equal(job.snapshot().sources[1].encoding, 'gzip');
    // The gzip mirror is only ever asked for the whole stream, from byte 0.
    assert.ok(gz.requests.every((r) => r.range === 'bytes=0-'), gz.requests.map((r) => r.range).join(', '));
  });

  it('excludes a gzip source whose first decoded block differs from the reference', async () => {
    const plain = await fx.mirror({ body, bytesPerSecond: 20e6 });
    const other = await fx.mirror({ body: gzipSync(makeArtifact(SIZE, 'another file')), host: '127.0.0.2' });
    const dir = await fx.tempDir();
    const { result } = await runJob(fx, { sources: [{ url: plain.url }, { url: other.url, encoding: 'gzip' }], outputPath: path.join(dir, 'a.bin'), expected: { sha256 } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    assert.equal(result.sources[1].state, 'excluded');
    assert.match(result.sources[1].reason, /first block differs/);
    assert.equal(result.sources[1].bytes, 0);
  });

  it('bans a gzip source whose decoded bytes differ later on; the pieces are fetched again from the plain mirror', async () => {
    const bad = Buffer.from(body);
    bad[4 * MiB + 100] ^= 0xff;
    const plain = await fx.mirror({ body, bytesPerSecond: 2e6 });
    const gz = await fx.mirror({ body: gzipSync(bad), host: '127.0.0.2' });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'banned.bin');
    const { result } = await runJob(fx, {
      sources: [{ url: plain.url }, { url: gz.url, encoding: 'gzip' }],
      outputPath: output,
      expected: { sha256, pieceSize: PIECE, pieceSha256: pieceHashes(body) },
    });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.equal(result.sources[1].state, 'banned');
    assert.match(result.sources[1].reason, /corrupt data for piece 16\b/);
  });

  it('a gzip source that decodes to more than the artifact delivers only the artifact', async () => {
    const plain = await fx.mirror({ body, bytesPerSecond: 1e6 });
    const bomb = await startBombServer(fx, gzipSync(body));
    const dir = await fx.tempDir();
    const output = path.join(dir, 'bomb.bin');
    const { result } = await runJob(fx, { sources: [{ url: plain.url }, { url: bomb.url, encoding: 'gzip' }], outputPath: output, expected: { sha256 } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.ok(result.sources[1].bytes > SIZE / 2, `the gzip source carried ${result.sources[1].bytes}`);
  });

  it('refuses a job of gzip sources only, and unknown encodings', async () => {
    const dir = await fx.tempDir();
    const only = await runJob(fx, { sources: [{ url: 'http://127.0.0.1:9/a.gz', encoding: 'gzip' }], outputPath: path.join(dir, 'a.bin') });
    assert.equal(only.result.error?.code, 'E_BAD_ARGUMENTS');
    assert.match(only.result.error?.message ?? '', /at least one plain source/);
    const unknown = await runJob(fx, { sources: [{ url: 'http://127.0.0.1:9/a', encoding: 'br' as 'gzip' }], outputPath: path.join(dir, 'b.bin') });
    assert.match(unknown.result.error?.message ?? '', /unsupported source encoding "br"/);
  });
});
