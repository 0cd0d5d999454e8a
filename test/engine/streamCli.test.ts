import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { httpGet } from '../harness-selftest/httpGet';
import { MiB, assertFileEquals, buildCli, useFixtures, waitFor } from './fixtures';

interface BinaryRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the CLI with stdout kept as bytes (the stream is binary). */
async function runCliBinary(args: string[], timeoutMs = 30_000): Promise<BinaryRun> {
  const cli = await buildCli();
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  return { code, stdout: Buffer.concat(out), stderr };
}

describe('engine: streaming from the CLI (get --stream-to, serve)', function () {
  this.timeout(40_000);
  const fx = useFixtures();

  before(async function () {
    this.timeout(60_000);
    await buildCli();
  });

  it('get --stream-to - writes exactly the verified file to stdout while the file lands at --output', async () => {
    const body = makeArtifact(3 * MiB + 17, 'cli-stream');
    const a = await fx.mirror({ body, bytesPerSecond: 3e6 });
    const b = await fx.mirror({ body, bytesPerSecond: 2e6 });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const run = await runCliBinary(['get', a.url, b.url, '-o', output, '--sha256', sha256Hex(body), '--piece-size', '64K', '--stream-to', '-']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.length, body.length);
    assert.ok(run.stdout.equals(body), 'stdout carries the artifact, nothing else');
    assert.match(run.stderr, /saved /, 'notes go to stderr');
    await assertFileEquals(output, body);
  });

  it('get --stream-to - with a corrupt single source exits 4 and never writes the whole body', async () => {
    const body = makeArtifact(2 * MiB, 'cli-stream-bad');
    const mirror = await fx.mirror({ body, corrupt: { offsets: [700_000] } });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const run = await runCliBinary(['get', mirror.url, '-o', output, '--sha256', sha256Hex(body), '--piece-size', '64K', '--stream-to', '-']);
    assert.equal(run.code, 4, run.stderr);
    assert.ok(run.stdout.length < body.length);
  });

  it('serve: GET of a mapped path is fetched from the upstream and its mirror and streamed back; a later GET comes from the cache', async () => {
    const body = makeArtifact(4 * MiB + 5, 'cli-serve');
    const upstream = await fx.mirror({ body, bytesPerSecond: 3e6 });
    const mirror = await fx.mirror({ body, bytesPerSecond: 3e6, host: '127.0.0.2' });
    const dir = await fx.tempDir();
    const cli = await buildCli();
    const child = spawn(process.execPath, [cli, 'serve', '--upstream', upstream.urlFor('/releases/'), '--mirror', mirror.urlFor('/mirror/releases/'), '--dir', dir, '--piece-size', '64K'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    fx.defer(async () => {
      child.kill('SIGTERM');
      await exited;
    });
    await waitFor(() => /serving http:\/\/127\.0\.0\.1:\d+\//.test(stderr), 10_000, 'the serve banner');
    const origin = /serving (http:\/\/127\.0\.0\.1:\d+)\//.exec(stderr)![1];
    const first = await httpGet(`${origin}/v1/model.bin`);
    assert.equal(first.status, 200, first.body.toString());
    assert.ok(first.body.equals(body), 'the streamed body equals the artifact');
    for (const source of [upstream, mirror]) {
      assert.ok(source.requests.some((r) => r.url.endsWith('releases/v1/model.bin')), `${source.url} was asked for the mapped path`);
    }
    await waitFor(() => stderr.includes('done /v1/model.bin'), 10_000, 'the job to finish');
    await assertFileEquals(path.join(dir, 'v1', 'model.bin'), body);
    const requestsBefore = upstream.requests.length;
    const cached = await httpGet(`${origin}/v1/model.bin`, { headers: { Range: 'bytes=100-1099' } });
    assert.equal(cached.status, 206);
    assert.ok(cached.body.equals(body.subarray(100, 1100)));
    assert.equal(upstream.requests.length, requestsBefore, 'served from the verified copy');
    const escape = await httpGet(`${origin}/..%2F..%2Fetc%2Fpasswd`);
    assert.equal(escape.status, 404);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  });

  it('get --stream-to refuses --json on the same stdout', async () => {
    const run = await runCliBinary(['get', 'http://127.0.0.1:9/x.bin', '-o', path.join(await fx.tempDir(), 'x'), '--stream-to', '-', '--json']);
    assert.equal(run.code, 2);
    assert.equal(run.stdout.length, 0);
  });
});
