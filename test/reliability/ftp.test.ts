/**
 * RELIABILITY.md S14, S15 and T11: FTP sources against the scripted FTP responder
 * (test/harness/ftpResponder.ts) and a real pyftpdlib server (test/harness/ftpServer.ts).
 * Related engine tests: test/engine/ftpSources.test.ts (FTP-only, mixed HTTP + FTP, FTPS).
 */
import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { FtpTransport } from '../../src/engine/ftp/ftpTransport';
import { TransportError } from '../../src/engine/httpTransport';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { startFtpResponder, type FtpResponder, type FtpResponderOptions } from '../harness/ftpResponder';
import { startFtpServer } from '../harness/ftpServer';
import { KiB, MiB, assertFileEquals, exists, runRel, useRelFixtures } from './fixtures';

describe('reliability: FTP sources (S14, S15, T11)', function () {
  this.timeout(30_000);
  const fx = useRelFixtures();

  async function responder(options: FtpResponderOptions): Promise<FtpResponder> {
    const server = await startFtpResponder(options);
    fx.defer(() => server.close());
    return server;
  }

  /** REST offsets > 0 the responder received. */
  const restOffsets = (server: FtpResponder): number[] => server.commands.filter((c) => c.cmd === 'REST' && Number(c.arg) > 0).map((c) => Number(c.arg));

  it('S14 REST refused (502) by an FTP mirror: it gets no ranged work; the HTTP mirror serves every range', async () => {
    const body = makeArtifact(3 * MiB + 17, 's14-no-rest');
    const http = await fx.mirror({ body, bytesPerSecond: 8e6 });
    const ftp = await responder({ body, refuseRest: true });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const { result, events } = await runRel(fx, { sources: [{ url: http.url }, { url: ftp.url }], outputPath: output, pieceSize: 64 * KiB, expected: { sha256: sha256Hex(body) } });

    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.deepEqual(restOffsets(ftp), [], 'no REST beyond 0 was sent to a server that refuses REST');
    assert.ok(ftp.transfers.length <= 1, `only the probe transferred from the FTP mirror: ${JSON.stringify(ftp.transfers)}`);
    assert.notEqual(result.sources[1].state, 'active');
    assert.equal(result.sources[1].bytes, 0, 'no bytes kept from the FTP mirror');
    assert.ok(events.some((e) => /refused REST/.test(e.message)), 'the log says why');
  });

  it('S14 REST refused on the only source: one whole transfer from byte 0, verified', async () => {
    const body = makeArtifact(700 * KiB + 3, 's14-only');
    const ftp = await responder({ body, refuseRest: true });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const { result } = await runRel(fx, { sources: [{ url: ftp.url }], outputPath: output, pieceSize: 64 * KiB, expected: { sha256: sha256Hex(body) } }, { canaryOrigin: false });

    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.deepEqual(restOffsets(ftp), []);
    assert.ok(ftp.transfers.every((t) => t.offset === 0), 'every transfer started at byte 0');
    assert.ok(ftp.transfers.some((t) => t.bytesSent === body.length && !t.aborted), 'one transfer carried the whole file');
  });

  it('S14 SIZE "213 abc" is ignored: the size comes from the manifest, or from the HTTP reference', async () => {
    const body = makeArtifact(2 * MiB + 5, 's14-size');
    const alone = await responder({ body, sizeReply: '213 abc' });
    const output = path.join(await fx.tempDir(), 'alone.bin');
    const first = await runRel(fx, { sources: [{ url: alone.url }], outputPath: output, pieceSize: 64 * KiB, expected: { size: body.length, sha256: sha256Hex(body) } }, { canaryOrigin: false });
    assert.equal(first.result.ok, true, JSON.stringify(first.result.error));
    await assertFileEquals(output, body);

    // Without a manifest, the FTP mirror joins with the size of the HTTP primary, and serves.
    const http = await fx.mirror({ body, bytesPerSecond: 1.5e6 });
    const mirror = await responder({ body, sizeReply: '213 abc' });
    const mixed = path.join(await fx.tempDir(), 'mixed.bin');
    const second = await runRel(fx, { sources: [{ url: http.url }, { url: mirror.url }], outputPath: mixed, pieceSize: 64 * KiB, expected: { sha256: sha256Hex(body) } });
    assert.equal(second.result.ok, true, JSON.stringify(second.result.error));
    await assertFileEquals(mixed, body);
    assert.ok(second.result.sources[1].bytes > 0, `the FTP mirror served nothing: ${second.result.sources[1].reason}`);
  });

  it('S14 SIZE "213 abc" with no manifest and no other source: a clear error, nothing published', async () => {
    const body = makeArtifact(100 * KiB, 's14-size-alone');
    const ftp = await responder({ body, sizeReply: '213 abc' });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const { result } = await runRel(fx, { sources: [{ url: ftp.url }], outputPath: output }, { canaryOrigin: false });
    assert.equal(result.ok, false);
    assert.match(result.sources[0].reason, /SIZE answered "213 abc"/);
    assert.equal(await exists(output), false);
  });

  it('S14 REST beyond the end (2000 on an 85-byte file): an error, and not one byte read', async () => {
    const root = await fx.tempDir();
    const small = makeArtifact(85, 's14-85');
    await fsp.writeFile(path.join(root, 'small.bin'), small);
    const server = await startFtpServer({ root });
    fx.defer(() => server.close());
    const transport = new FtpTransport();
    fx.defer(() => transport.close());

    // SIZE states 85: the request is refused before any REST is sent.
    const refused = await transport.getRange(`${server.baseUrl}small.bin`, 2000, 2099).then(() => undefined, (error: unknown) => error);
    assert.ok(refused instanceof TransportError && refused.kind === 'protocol', String(refused));
    assert.match(refused.message, /beyond the end/);
    assert.ok(!server.commands.some((c) => c.cmd === 'REST' && c.arg === '2000'), 'REST 2000 was never sent');
    assert.ok(!server.commands.some((c) => c.cmd === 'RETR'), 'nothing was transferred');

    // SIZE garbage: the server is asked, refuses (554) or sends nothing, and the read fails.
    const liar = await responder({ body: small, sizeReply: '213 abc' });
    const failed = await transport.getRange(liar.url, 2000, 2099).then(() => undefined, (error: unknown) => error);
    assert.ok(failed instanceof TransportError && failed.kind === 'protocol', String(failed));
    assert.deepEqual(liar.transfers, [], 'no data was transferred');
    const atEnd = await transport.getRange(liar.url, 85, 99).then(() => undefined, (error: unknown) => error);
    assert.ok(atEnd instanceof TransportError && atEnd.kind === 'protocol' && /ends before/.test(atEnd.message), String(atEnd));
  });

  it('S15 data connection closed after 40 of 10,928 bytes while the control says 226: the rest continues at byte 40', async () => {
    const body = makeArtifact(10_928, 's15-early-close');
    const ftp = await responder({ body, truncateData: { afterBytes: 40, times: 1, skipTransfers: 1 } });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const { result } = await runRel(fx, { sources: [{ url: ftp.url }], outputPath: output, expected: { sha256: sha256Hex(body) } }, { canaryOrigin: false });

    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const truncated = ftp.transfers[1];
    assert.equal(truncated.bytesSent, 40, 'the second transfer was cut at 40 bytes');
    assert.deepEqual(ftp.transfers.slice(2).map((t) => t.offset), [40], 'the remainder was asked for at exactly byte 40, once');
  });

  it('S15 421, 425 and 451 replies are transient: retried with the job\'s policy, then complete', async () => {
    const body = makeArtifact(300 * KiB, 's15-4xx');
    const ftp = await responder({
      body,
      script: [
        { command: 'USER', reply: '421 Too many connections, try later', hangUp: true },
        { command: 'EPSV', reply: '425 Cannot open data connection' },
        { command: 'RETR', reply: '451 Local error in processing' },
      ],
    });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const { result, events } = await runRel(fx, { sources: [{ url: ftp.url }], outputPath: output, expected: { sha256: sha256Hex(body) } }, { canaryOrigin: false });

    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const retries = events.filter((e) => e.kind === 'retry').map((e) => e.message).join('\n');
    for (const code of ['421', '425', '451']) assert.match(retries, new RegExp(code), `a retry for ${code}`);
  });

  it('S15 EPSV refused: falls back to PASV, and asks EPSV once per session only', async () => {
    const body = makeArtifact(1 * MiB + 1, 's15-epsv');
    const ftp = await responder({ body, refuseEpsv: true });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const { result } = await runRel(fx, { sources: [{ url: ftp.url }], outputPath: output, pieceSize: 64 * KiB, expected: { sha256: sha256Hex(body) } }, { canaryOrigin: false });

    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const retrs = ftp.commands.filter((c) => c.cmd === 'RETR').length;
    const pasvs = ftp.commands.filter((c) => c.cmd === 'PASV').length;
    assert.ok(retrs >= 2 && pasvs >= retrs, `every transfer went through PASV (${pasvs} PASV, ${retrs} RETR)`);
    const epsvPerSession = new Map<number, number>();
    for (const c of ftp.commands) if (c.cmd === 'EPSV') epsvPerSession.set(c.session, (epsvPerSession.get(c.session) ?? 0) + 1);
    assert.ok([...epsvPerSession.values()].every((n) => n === 1), `EPSV per session: ${JSON.stringify([...epsvPerSession])}`);
  });

  it('T11 a PASV reply naming 127.0.0.9 is ignored: data goes to the control peer, nothing connects to 127.0.0.9', async () => {
    const body = makeArtifact(1 * MiB + 3, 't11-pasv');
    const ftp = await responder({ body, refuseEpsv: true, pasvHost: '127.0.0.9' });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const { result, events } = await runRel(fx, { sources: [{ url: ftp.url }], outputPath: output, pieceSize: 64 * KiB, expected: { sha256: sha256Hex(body) } }, { canaryOrigin: false });

    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.ok(ftp.commands.filter((c) => c.cmd === 'PASV').length >= 2, 'PASV was used');
    assert.equal(ftp.trapConnections, 0, 'a connection was made to the address in the PASV reply');
    assert.ok(events.some((e) => /named 127\.0\.0\.9 .*connected to 127\.0\.0\.1/.test(e.message)), 'the log says the PASV address was ignored');

    // The trap is live: a client that trusts the PASV reply is caught.
    const advertised = await naivePasvTarget(ftp.port);
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(advertised.port, advertised.host, () => { socket.destroy(); resolve(); });
      socket.on('error', reject);
    });
    for (let i = 0; i < 50 && ftp.trapConnections === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(ftp.trapConnections, 1, 'the trap counts a connection to the PASV address');
  });
});

/** What a client that trusts PASV would dial: logs in anonymously, sends PASV, parses the reply. */
function naivePasvTarget(port: number): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (/^220 /m.test(text) && !text.includes('sent-pasv')) {
        text += 'sent-pasv';
        socket.write('USER anonymous\r\nPASS x\r\nPASV\r\n');
      }
      const match = /227 [^(]*\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(text);
      if (match) {
        socket.destroy();
        resolve({ host: match.slice(1, 5).join('.'), port: Number(match[5]) * 256 + Number(match[6]) });
      }
    });
  });
}
