import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { DownloadJob } from '../../src/engine/downloadJob';
import { ErrorCode, FetchError } from '../../src/engine/errors';
import type { ExpectedIdentity } from '../../src/engine/jobOptions';
import { leafHash, merkleRoot } from '../../src/engine/integrity/merkleTree';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { KiB, MiB, assertFileEquals, rangeOf, useFixtures, workRequests } from './fixtures';

/** A trusted identity with every leaf, as a manifest gives it. */
function trustedLeaves(data: Buffer, pieceSize: number): ExpectedIdentity {
  const leaves: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += pieceSize) leaves.push(leafHash(data.subarray(offset, offset + pieceSize)));
  return { root: merkleRoot(leaves).toString('hex'), leaves: leaves.map((l) => l.toString('hex')), pieceSize, size: data.length };
}

/** Everything a stream yields, and when its first byte came (ms since `since`). */
async function collect(stream: Readable, since: number): Promise<{ data: Buffer; firstByteMs: number }> {
  const chunks: Buffer[] = [];
  let firstByteMs = -1;
  for await (const chunk of stream) {
    if (firstByteMs < 0) firstByteMs = Date.now() - since;
    chunks.push(chunk as Buffer);
  }
  return { data: Buffer.concat(chunks), firstByteMs };
}

describe('engine: verified streams (job.openStream)', function () {
  this.timeout(40_000);
  const fx = useFixtures();

  it('a reader from the start while the job runs gets exactly the file, in order, before the job ends', async () => {
    const body = makeArtifact(6 * MiB + 123, 'stream-start');
    const a = await fx.mirror({ body, bytesPerSecond: 3e6 });
    const b = await fx.mirror({ body, bytesPerSecond: 2e6, host: '127.0.0.2' });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const job = new DownloadJob({ sources: [{ url: a.url }, { url: b.url }], outputPath: output, expected: { sha256: sha256Hex(body) }, pieceSize: 64 * KiB });
    const stream = job.openStream();
    const startedAt = Date.now();
    const running = job.run();
    fx.track(job, running);
    const [{ data }, result] = await Promise.all([collect(stream, startedAt), running]);
    assert.equal(result.ok, true, result.error?.message);
    assert.equal(data.length, body.length);
    assert.ok(data.equals(body), 'streamed bytes equal the artifact');
    await assertFileEquals(output, body);
  });

  it('a Range in the middle yields exactly those bytes; two readers run at once', async () => {
    const body = makeArtifact(5 * MiB, 'stream-range');
    const mirror = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const job = new DownloadJob({ sources: [{ url: mirror.url }], outputPath: output, pieceSize: 64 * KiB });
    const start = 2 * MiB + 777;
    const end = 3 * MiB + 5;
    const middle = job.openStream(start, end);
    const whole = job.openStream();
    const running = job.run();
    fx.track(job, running);
    const [mid, all, result] = await Promise.all([collect(middle, Date.now()), collect(whole, Date.now()), running]);
    assert.equal(result.ok, true, result.error?.message);
    assert.ok(mid.data.equals(body.subarray(start, end)), 'the middle range');
    assert.ok(all.data.equals(body), 'the whole file');
  });

  it('data prioritizer: a reader blocked deep in the file gets its bytes long before bulk order would reach them', async () => {
    const SIZE = 16 * MiB;
    const P = 64 * KiB;
    const body = makeArtifact(SIZE, 'stream-priority');
    const mirror = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const job = new DownloadJob({ sources: [{ url: mirror.url }], outputPath: output, pieceSize: P });
    const offset = 12 * MiB + 3 * P;
    const reader = job.openStream(offset, offset + 256 * KiB);
    let doneAtFirstByte = -1;
    reader.once('data', () => { doneAtFirstByte = job.snapshot().bytesDone; });
    const running = job.run();
    fx.track(job, running);
    const [{ data }, result] = await Promise.all([collect(reader, Date.now()), running]);
    assert.equal(result.ok, true, result.error?.message);
    assert.ok(data.equals(body.subarray(offset, offset + 256 * KiB)));
    // In bulk (file) order three quarters of the file come before this offset; prioritized, the
    // reader's pieces come right after the first segments (4 channels x 512 KiB unmeasured).
    assert.ok(doneAtFirstByte >= 0 && doneAtFirstByte < SIZE / 2, `${doneAtFirstByte} of ${SIZE} bytes were done when the reader got its first byte`);
    const work = workRequests(mirror, P).map((r) => ({ ...rangeOf(r)!, at: r.startedAt }));
    const firstForReader = Math.min(...work.filter((r) => r.start <= offset && r.end >= offset).map((r) => r.at));
    const firstPastHalf = Math.min(...work.filter((r) => r.start >= SIZE / 2 && r.start < offset - 4 * MiB).map((r) => r.at));
    assert.ok(firstForReader <= firstPastHalf, 'the reader\'s piece was requested before the bulk between the middle and the reader');
  });

  it('without a reader the planner keeps bulk order (the first work requests start at the front)', async () => {
    const SIZE = 8 * MiB;
    const P = 64 * KiB;
    const body = makeArtifact(SIZE, 'stream-bulk');
    const mirror = await fx.mirror({ body, bytesPerSecond: 8e6 });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const job = new DownloadJob({ sources: [{ url: mirror.url }], outputPath: output, pieceSize: P });
    const result = await job.run();
    assert.equal(result.ok, true, result.error?.message);
    const starts = workRequests(mirror, P).map((r) => rangeOf(r)!.start).slice(0, 4);
    assert.deepEqual(starts, [...starts].sort((x, y) => x - y), 'first segments in file order');
    assert.ok(starts[0] < 1 * MiB);
  });

  it('with trusted leaves a reader ends as soon as its range is verified, before the job completes', async () => {
    const body = makeArtifact(6 * MiB, 'stream-leaves');
    const manifest = trustedLeaves(body, 64 * KiB);
    const mirror = await fx.mirror({ body, bytesPerSecond: 3e6 });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const job = new DownloadJob({ sources: [{ url: mirror.url }], outputPath: output, expected: manifest });
    const head = job.openStream(0, 512 * KiB);
    const running = job.run();
    fx.track(job, running);
    const { data } = await collect(head, Date.now());
    assert.ok(data.equals(body.subarray(0, 512 * KiB)));
    assert.notEqual(job.snapshot().state, 'completed', 'the head ended while the job still ran');
    assert.equal((await running).ok, true);
  });

  it('with only a SHA-256 and one corrupt source the stream ends with E_VERIFICATION_FAILED, never with a complete body', async () => {
    const body = makeArtifact(3 * MiB, 'stream-corrupt');
    const mirror = await fx.mirror({ body, bytesPerSecond: 6e6, corrupt: { offsets: [1_000_000] } });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const job = new DownloadJob({ sources: [{ url: mirror.url }], outputPath: output, expected: { sha256: sha256Hex(body) }, pieceSize: 64 * KiB });
    const stream = job.openStream();
    const received: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => received.push(chunk));
    const failure = new Promise<Error>((resolve, reject) => {
      stream.once('error', resolve);
      stream.once('end', () => reject(new Error('the stream ended cleanly although the file is wrong')));
    });
    const running = job.run();
    fx.track(job, running);
    const [error, result] = await Promise.all([failure, running]);
    assert.equal(result.ok, false);
    assert.ok(error instanceof FetchError);
    assert.equal(error.code, ErrorCode.VerificationFailed);
    assert.ok(Buffer.concat(received).length < body.length, 'the last piece was held back');
  });

  it('cancelling the job ends a blocked reader with E_INTERRUPTED', async () => {
    const body = makeArtifact(8 * MiB, 'stream-cancel');
    const mirror = await fx.mirror({ body, bytesPerSecond: 1e6 });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const job = new DownloadJob({ sources: [{ url: mirror.url }], outputPath: output, pieceSize: 64 * KiB });
    const stream = job.openStream(7 * MiB);
    stream.resume();
    const failure = new Promise<Error>((resolve) => stream.once('error', resolve));
    const running = job.run();
    fx.track(job, running);
    setTimeout(() => job.cancel(true), 300);
    const error = await failure;
    assert.equal((error as FetchError).code, ErrorCode.Interrupted);
    await running;
    assert.equal(job.streams.readerCount, 0);
  });

  it('a range past the end fails with E_BAD_ARGUMENTS once the size is known', async () => {
    const body = makeArtifact(256 * KiB, 'stream-bad-range');
    const mirror = await fx.mirror({ body });
    const output = path.join(await fx.tempDir(), 'out.bin');
    const job = new DownloadJob({ sources: [{ url: mirror.url }], outputPath: output });
    const stream = job.openStream(0, body.length + 1);
    stream.resume();
    const failure = new Promise<Error>((resolve) => stream.once('error', resolve));
    const running = job.run();
    fx.track(job, running);
    assert.equal(((await failure) as FetchError).code, ErrorCode.BadArguments);
    assert.equal((await running).ok, true);
  });
});
