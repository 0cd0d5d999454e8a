import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { KiB, MiB, assertFileEquals, buildCli, exists, isProbe, rangeOf, runCli, statePaths, useFixtures } from './fixtures';

/** stderr lines, without empty ones. */
function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

describe('engine: the CLI (artifact-fetch get)', function () {
  this.timeout(30_000);
  const fx = useFixtures();
  const SIZE = 2 * MiB + 99;
  const body = makeArtifact(SIZE, 'cli');
  const sha256 = sha256Hex(body);

  before(async function () {
    this.timeout(60_000);
    await buildCli();
  });

  it('downloads from two mirrors; --json prints exactly one JSON object with the result', async () => {
    const a = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const b = await fx.mirror({ body, bytesPerSecond: 2e6 });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'out.bin');
    const run = await runCli(['get', a.url, b.url, '-o', output, '--sha256', sha256, '--json', '--piece-size', '64K']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '', 'stderr must stay empty on success with --json');
    const stdoutLines = lines(run.stdout);
    assert.equal(stdoutLines.length, 1, `stdout: ${run.stdout}`);
    const result = JSON.parse(stdoutLines[0]) as Record<string, unknown> & { sources: Array<Record<string, unknown>> };
    assert.equal(result.ok, true);
    assert.equal(result.path, output);
    assert.equal(result.size, SIZE);
    assert.equal(result.sha256, sha256);
    assert.equal(typeof result.seconds, 'number');
    assert.ok((result.seconds as number) > 0);
    assert.equal(result.sources.length, 2);
    for (const [i, source] of result.sources.entries()) {
      for (const key of ['url', 'state', 'bytes', 'meanBytesPerSecond', 'latencyMs', 'strikes', 'reason']) {
        assert.ok(key in source, `sources[${i}] lacks ${key}`);
      }
      assert.equal(source.url, [a.url, b.url][i]);
      assert.equal(typeof source.bytes, 'number');
      assert.equal(source.strikes, 0);
    }
    assert.equal((result.sources[0].bytes as number) + (result.sources[1].bytes as number), SIZE);
    await assertFileEquals(output, body);
    // Both mirrors were asked for ranges inside the file (a probe may ask past its end: the server
    // answers with what there is, RFC 9110 §14.1.2).
    for (const mirror of [a, b]) {
      assert.ok(mirror.requests.length >= 1);
      for (const request of mirror.requests) {
        const range = rangeOf(request)!;
        assert.ok(range.end < SIZE || isProbe(request), `${request.range} outside the file`);
      }
    }
  });

  it('bad arguments exit 2 with one line on stderr and nothing at --output', async () => {
    const dir = await fx.tempDir();
    const output = path.join(dir, 'never.bin');
    const cases: string[][] = [
      ['get', 'http://127.0.0.1:9/x.bin'], // no --output
      ['get', 'http://127.0.0.1:9/x.bin', '-o', output, '--sha256', 'nothex'],
      ['get', 'http://127.0.0.1:9/x.bin', '-o', output, '--connections', 'zero'],
      ['get', 'gopher://127.0.0.1/x.bin', '-o', output],
      ['get', 'http://127.0.0.1:9/x.bin', '-o', output, '--piece-size', '1000'],
      ['frobnicate'],
    ];
    for (const args of cases) {
      const run = await runCli(args);
      assert.equal(run.code, 2, `${args.join(' ')} → ${run.code}: ${run.stderr}`);
      assert.equal(lines(run.stderr).length, 1, `${args.join(' ')}: stderr has ${lines(run.stderr).length} lines:\n${run.stderr}`);
      assert.equal(run.stdout, '');
    }
    assert.equal(await exists(output), false);
  });

  it('no usable source exits 3, stderr names the code and the cause, nothing at --output', async () => {
    const mirror = await fx.mirror({ body, path: '/artifact.bin' });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'none.bin');
    const run = await runCli(['get', mirror.urlFor('/missing.bin'), '-o', output, '-q']);
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stderr, /^artifact-fetch: /);
    assert.match(run.stderr, /E_NO_USABLE_SOURCE/);
    assert.match(run.stderr, /404/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'a stack trace on stderr');
    assert.equal(run.stdout, '');
    assert.equal(await exists(output), false);
    assert.equal(mirror.requests.length, 1);
  });

  // Regression: found by this suite, fixed in 18f8a8c. Before: the E_NO_USABLE_SOURCE message spanned
  // one line per source on stderr (main.ts printed it as is).
  it('no usable source: exactly one line on stderr', async () => {
    const a = await fx.mirror({ body, path: '/artifact.bin' });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'none.bin');
    const run = await runCli(['get', a.urlFor('/missing.bin'), a.urlFor('/gone.bin'), '-o', output, '-q']);
    assert.equal(run.code, 3, run.stderr);
    assert.equal(lines(run.stderr).length, 1, `stderr:\n${run.stderr}`);
  });

  // Regression: found by this suite, fixed in 18f8a8c. Before: the CLI died (exit 1, unhandled
  // RequestAbortedError) on a 503 with an empty body: httpTransport destroyed unread bodies without an
  // error listener.
  it('a mirror answering 503 to ranged work does not crash the CLI: exit 0, exact file', async () => {
    const good = await fx.mirror({ body, bytesPerSecond: 2e6 });
    const busy = await fx.mirror({
      body,
      onRequest: (_req, _res, { mirror }) => {
        if (mirror.requests.length === 3) mirror.update({ statusScript: [{ status: 503, headers: { 'Retry-After': '1' }, times: 2 }] });
        return false;
      },
    });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'busy.bin');
    const run = await runCli(['get', good.url, busy.url, '-o', output, '--json', '--sha256', sha256]);
    assert.ok(busy.requests.some((r) => r.status === 503), 'the mirror never answered 503: the test proves nothing');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    await assertFileEquals(output, body);
  });

  it('no usable source with --json: the JSON result on stdout says ok:false with the error code', async () => {
    const mirror = await fx.mirror({ body, path: '/artifact.bin' });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'none.bin');
    const run = await runCli(['get', mirror.urlFor('/missing.bin'), '-o', output, '--json']);
    assert.equal(run.code, 3);
    const result = JSON.parse(lines(run.stdout)[0]) as { ok: boolean; error: { code: string }; sources: Array<{ state: string; reason: string }> };
    assert.equal(result.ok, false);
    assert.equal(result.error.code, 'E_NO_USABLE_SOURCE');
    assert.equal(result.sources[0].state, 'excluded');
    assert.match(result.sources[0].reason, /404/);
    assert.equal(await exists(output), false);
  });

  it('a SHA-256 mismatch exits 4, one line on stderr, nothing at --output', async () => {
    const mirror = await fx.mirror({ body });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'mismatch.bin');
    const wrong = sha256.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const run = await runCli(['get', mirror.url, '-o', output, '--sha256', wrong, '-q']);
    assert.equal(run.code, 4, run.stderr);
    const errorLines = lines(run.stderr);
    assert.equal(errorLines.length, 1, `stderr:\n${run.stderr}`);
    assert.match(errorLines[0], /E_VERIFICATION_FAILED/);
    assert.equal(await exists(output), false);
    // A mismatching file is not kept for resume either.
    assert.equal(await exists(statePaths(output).journal), false);
  });

  it('an existing target exits 6, one line on stderr, the file untouched and no source contacted', async () => {
    const mirror = await fx.mirror({ body });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'exists.bin');
    const previous = Buffer.from('keep me\n');
    await fsp.writeFile(output, previous);
    const run = await runCli(['get', mirror.url, '-o', output, '-q']);
    assert.equal(run.code, 6, run.stderr);
    const errorLines = lines(run.stderr);
    assert.equal(errorLines.length, 1, `stderr:\n${run.stderr}`);
    assert.match(errorLines[0], /E_TARGET_EXISTS/);
    await assertFileEquals(output, previous);
    assert.equal(mirror.requests.length, 0);

    const replaced = await runCli(['get', mirror.url, '-o', output, '-q', '--overwrite', '--sha256', sha256]);
    assert.equal(replaced.code, 0, replaced.stderr);
    await assertFileEquals(output, body);
  });

  it('--limit-rate caps the global speed', async () => {
    const mirror = await fx.mirror({ body });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'limited.bin');
    const started = Date.now();
    const run = await runCli(['get', mirror.url, '-o', output, '--json', '--limit-rate', '1M', '--piece-size', '64K']);
    const ms = Date.now() - started;
    assert.equal(run.code, 0, run.stderr);
    await assertFileEquals(output, body);
    // 2 MiB at 1 MiB/s: at least ~1.5 s even with a generous initial burst.
    assert.ok(ms >= 1500, `finished in ${ms} ms despite --limit-rate 1M`);
    assert.ok(mirror.requests.every((r) => (rangeOf(r)?.end ?? 0) < SIZE || isProbe(r)));
  });

  it('writes the .part and journal under --state-dir and nothing next to the output', async () => {
    const mirror = await fx.mirror({ body });
    const dir = await fx.tempDir();
    const stateDir = path.join(await fx.tempDir(), 'state');
    const output = path.join(dir, 'stated.bin');
    const run = await runCli(['get', mirror.url, '-o', output, '-q', '--state-dir', stateDir, '--piece-size', `${64 * KiB}`]);
    assert.equal(run.code, 0, run.stderr);
    await assertFileEquals(output, body);
    assert.deepEqual(await fsp.readdir(dir), ['stated.bin']);
    assert.ok(await exists(stateDir));
  });
});
