/**
 * FTP and FTPS sources against a real server (pyftpdlib, test/harness/ftpServer.ts): alone, next
 * to an HTTP mirror, over explicit TLS, with a login from the URL, and from the CLI. The fault
 * cases (S14, S15, T11) are in test/reliability/ftp.test.ts.
 */
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { startFtpResponder } from '../harness/ftpResponder';
import { startFtpServer, type FtpServer, type FtpServerOptions } from '../harness/ftpServer';
import { testCa } from '../harness/testCa';
import { KiB, MiB, assertFileEquals, buildCli, exists, rangeOf, runCli, runJob, useFixtures } from './fixtures';

describe('engine: FTP and FTPS sources', function () {
  this.timeout(30_000);
  const fx = useFixtures();
  const PIECE = 64 * KiB;

  /** A pyftpdlib server over a fresh folder holding `files`. */
  async function ftpServer(files: Record<string, Buffer>, options: Omit<FtpServerOptions, 'root'> = {}): Promise<FtpServer> {
    const root = await fx.tempDir();
    for (const [name, data] of Object.entries(files)) await fsp.writeFile(path.join(root, name), data);
    const server = await startFtpServer({ root, ...options });
    fx.defer(() => server.close());
    return server;
  }

  /** REST offsets (> 0) a server received. */
  const restOffsets = (server: FtpServer): number[] => server.commands.filter((c) => c.cmd === 'REST' && c.arg !== '0').map((c) => Number(c.arg));

  it('downloads from an FTP server alone: the verified file, piece-aligned REST offsets, sessions within the cap', async () => {
    const body = makeArtifact(6 * MiB + 321, 'ftp-only');
    // The server allows 4 sessions per address and answers 421 beyond: the engine must stay below.
    const server = await ftpServer({ 'artifact.bin': body }, { maxConsPerIp: 4 });
    const output = path.join(await fx.tempDir(), 'artifact.bin');
    const { result, events } = await runJob(fx, {
      sources: [{ url: `${server.baseUrl}artifact.bin` }],
      outputPath: output,
      pieceSize: PIECE,
      connectionsPerSource: 8,
      expected: { sha256: sha256Hex(body) },
    });

    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const offsets = restOffsets(server);
    assert.ok(offsets.length >= 2, `ranged reads: ${offsets.join(', ')}`);
    for (const offset of offsets) {
      assert.ok(offset > 0 && offset < body.length, `REST ${offset} outside the file`);
      assert.equal(offset % PIECE, 0, `REST ${offset} is not at a piece boundary:\n${events.map((e) => e.kind + " " + e.message).join("\n")}`);
    }
    assert.ok(!events.some((e) => /\b421\b/.test(e.message)), `the engine opened more sessions than allowed:\n${events.map((e) => e.message).join('\n')}`);
    // Sessions are reused after an aborted range (ABOR + PWD), not reopened for every read.
    const logins = server.commands.filter((c) => c.cmd === 'USER').length;
    const transfers = server.commands.filter((c) => c.cmd === 'RETR').length;
    assert.ok(logins <= 4 && transfers > logins, `${logins} logins for ${transfers} transfers`);
  });

  it('mixed HTTP + FTP mirrors of one file: both serve, every request lies in the file, identity checked', async () => {
    const SIZE = 8 * MiB + 77;
    const body = makeArtifact(SIZE, 'ftp-mixed');
    const http = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const server = await ftpServer({ 'artifact.bin': body });
    const output = path.join(await fx.tempDir(), 'artifact.bin');
    const { result, events } = await runJob(fx, {
      sources: [{ url: http.url }, { url: `${server.baseUrl}artifact.bin` }],
      outputPath: output,
      pieceSize: PIECE,
      expected: { sha256: sha256Hex(body) },
    });

    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.deepEqual(result.sources.map((s) => s.state), ['active', 'active']);
    assert.ok(result.sources[0].bytes > 0 && result.sources[1].bytes > 0, `kept bytes: ${result.sources.map((s) => s.bytes).join(', ')}`);
    assert.equal(result.sources[0].bytes + result.sources[1].bytes, SIZE, 'kept bytes add up to the file');
    for (const request of http.requests) {
      const range = rangeOf(request);
      assert.ok(range && range.end < SIZE, `HTTP request outside the file: ${request.range}`);
    }
    const offsets = restOffsets(server);
    assert.ok(offsets.length > 0 && offsets.every((o) => o < SIZE), `FTP offsets: ${offsets.join(', ')}`);
    // The FTP mirror joined only after the identity check: one block at a random offset, not piece-aligned.
    assert.ok(offsets.some((o) => o % PIECE !== 0), 'the FTP mirror was spot-checked at a random offset');
    assert.ok(events.some((e) => e.kind === 'promoted' && /same bytes/.test(e.message)), 'the FTP mirror joined as holding the same bytes');
  });

  it('an FTP mirror with other bytes of the same size (same first block) is excluded by the identity spot check', async () => {
    const body = makeArtifact(3 * MiB, 'ftp-identity');
    const other = makeArtifact(3 * MiB, 'ftp-identity-other');
    body.copy(other, 0, 0, 64 * KiB); // the probe's sample agrees; the block at a random offset cannot
    const http = await fx.mirror({ body, bytesPerSecond: 6e6 });
    const server = await ftpServer({ 'artifact.bin': other });
    const output = path.join(await fx.tempDir(), 'artifact.bin');
    const { result } = await runJob(fx, {
      sources: [{ url: http.url }, { url: `${server.baseUrl}artifact.bin` }],
      outputPath: output,
      pieceSize: PIECE,
      expected: { sha256: sha256Hex(body) },
    });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.equal(result.sources[1].state, 'excluded');
    assert.match(result.sources[1].reason, /block at offset \d+ differs/);
    assert.equal(result.sources[1].bytes, 0);
  });

  it('FTPS (explicit TLS) with the test CA trusted; an untrusted certificate is refused before any login', async () => {
    const ca = testCa();
    const body = makeArtifact(2 * MiB + 9, 'ftps');
    const server = await startFtpResponder({ body, tls: ca.server });
    fx.defer(() => server.close());
    assert.match(server.url, /^ftps:\/\//);

    const output = path.join(await fx.tempDir(), 'artifact.bin');
    const { result } = await runJob(fx, { sources: [{ url: server.url }], outputPath: output, pieceSize: PIECE, ca: ca.caPem, expected: { sha256: sha256Hex(body) } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const sequence = server.commands.map((c) => c.cmd);
    assert.equal(sequence[0], 'AUTH', 'TLS before anything else');
    assert.ok(server.commands.some((c) => c.cmd === 'PROT' && c.arg === 'P'), 'data connections are protected');
    assert.ok(server.transfers.length >= 2, 'ranged reads over TLS');

    const commandsBefore = server.commands.length;
    const untrusted = path.join(await fx.tempDir(), 'untrusted.bin');
    const refused = await runJob(fx, { sources: [{ url: server.url }], outputPath: untrusted });
    assert.equal(refused.result.ok, false);
    assert.match(refused.result.sources[0].reason, /TLS|certificate/i);
    assert.equal(await exists(untrusted), false);
    // Only the second job's sessions: the first job's pooled sessions may still say QUIT late.
    const firstJobSessions = new Set(server.commands.slice(0, commandsBefore).map((c) => c.session));
    const after = server.commands.slice(commandsBefore).filter((c) => !firstJobSessions.has(c.session)).map((c) => c.cmd);
    // AUTH, and at most a QUIT when the client hangs up: no login and no command carrying data.
    assert.ok(after.length > 0 && after[0] === 'AUTH' && after.every((cmd) => cmd === 'AUTH' || cmd === 'QUIT'), `commands sent without a trusted TLS session: ${after.join(', ')}`);
  });

  it('logs in with the URL\'s user and password; the password appears in no event, snapshot or result', async () => {
    const password = `pw-${randomBytes(9).toString('hex')}`;
    const body = makeArtifact(1 * MiB + 5, 'ftp-login');
    const server = await ftpServer({ 'artifact.bin': body }, { user: 'fetcher', password });
    const url = `${server.baseUrl}artifact.bin`;
    assert.ok(url.includes(password), 'the URL carries the login');
    const output = path.join(await fx.tempDir(), 'artifact.bin');
    const run = await runJob(fx, { sources: [{ url }], outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) } });
    assert.equal(run.result.ok, true, JSON.stringify(run.result.error));
    await assertFileEquals(output, body);
    assert.ok(server.commands.some((c) => c.cmd === 'USER' && c.arg === 'fetcher'));

    const wrong = url.replace(password, 'not-the-password');
    const refused = await runJob(fx, { sources: [{ url: wrong }], outputPath: path.join(await fx.tempDir(), 'x.bin') });
    assert.equal(refused.result.ok, false);
    assert.match(refused.result.sources[0].reason, /login refused.*530/);

    const texts = [run, refused].flatMap((r) => [JSON.stringify(r.events), JSON.stringify(r.snapshots), JSON.stringify(r.result)]);
    const forms = [password, encodeURIComponent(password), Buffer.from(password).toString('base64').replace(/=+$/, '')];
    for (const text of texts) for (const form of forms) assert.ok(!text.includes(form), `the password leaked: …${text.slice(Math.max(0, text.indexOf(form) - 80), text.indexOf(form) + 40)}…`);
    assert.ok(!texts.some((t) => t.includes('not-the-password')), 'the wrong password leaked');
  });

  describe('the CLI', () => {
    before(async function () {
      this.timeout(60_000);
      await buildCli();
    });

    it('artifact-fetch get ftp://… http://… downloads from both and verifies', async () => {
      const body = makeArtifact(4 * MiB + 1, 'ftp-cli');
      const http = await fx.mirror({ body, bytesPerSecond: 3e6 });
      const server = await ftpServer({ 'artifact.bin': body });
      const output = path.join(await fx.tempDir(), 'out.bin');
      const run = await runCli(['get', `${server.baseUrl}artifact.bin`, http.url, '-o', output, '--sha256', sha256Hex(body), '--json', '--piece-size', '64K']);
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout.trim()) as { ok: boolean; sources: Array<{ url: string; bytes: number }> };
      assert.equal(result.ok, true);
      await assertFileEquals(output, body);
      assert.match(result.sources[0].url, /^ftp:\/\//);
      assert.ok(result.sources.every((s) => s.bytes > 0), `bytes per source: ${result.sources.map((s) => s.bytes).join(', ')}`);
    });
  });
});
