import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { DownloadJob } from '../../src/engine/downloadJob';
import type { JobState } from '../../src/engine/snapshot';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { KiB, MiB, assertFileEquals, exists, readJournalDone, runJob, sleep, statePaths, useFixtures, waitFor, workRequests } from './fixtures';

describe('engine: the target file and job control', function () {
  this.timeout(30_000);
  const fx = useFixtures();
  const PIECE = 64 * KiB;
  const SIZE = 4 * MiB;
  const body = makeArtifact(SIZE, 'target');
  const sha256 = sha256Hex(body);

  it('refuses an existing file at the output path (E_TARGET_EXISTS) and leaves it byte-identical', async () => {
    const mirror = await fx.mirror({ body });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'exists.bin');
    const previous = makeArtifact(1000, 'previous');
    await fsp.writeFile(output, previous);
    const { result } = await runJob(fx, { sources: [{ url: mirror.url }], outputPath: output });
    assert.equal(result.ok, false);
    assert.equal(result.error?.code, 'E_TARGET_EXISTS');
    assert.ok(result.error!.message.includes(output));
    await assertFileEquals(output, previous);
    assert.equal(mirror.requests.length, 0, 'sources were contacted although the target exists');
  });

  it('with overwrite: true replaces the existing file with the verified artifact', async () => {
    const mirror = await fx.mirror({ body });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'replace.bin');
    await fsp.writeFile(output, makeArtifact(SIZE + 5000, 'older'));
    const { result } = await runJob(fx, { sources: [{ url: mirror.url }], outputPath: output, overwrite: true, expected: { sha256 } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const { part, journal, lock } = statePaths(output);
    assert.equal(await exists(part), false, 'the .part file stayed behind');
    assert.equal(await exists(journal), false, 'the journal stayed behind');
    assert.equal(await exists(lock), false, 'the lock stayed behind');
  });

  it('leaves nothing at the output path when every source fails (E_NO_USABLE_SOURCE)', async () => {
    const a = await fx.mirror({ body, path: '/artifact.bin' });
    const b = await fx.mirror({ body, path: '/artifact.bin' });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'nothing.bin');
    const { result } = await runJob(fx, { sources: [{ url: a.urlFor('/missing.bin') }, { url: b.urlFor('/gone.bin') }], outputPath: output });
    assert.equal(result.ok, false);
    assert.equal(result.error?.code, 'E_NO_USABLE_SOURCE');
    assert.match(result.error!.message, /404/);
    assert.equal(await exists(output), false);
    assert.deepEqual(result.sources.map((s) => s.state), ['excluded', 'excluded']);
    assert.equal(a.requests.length, 1);
    assert.equal(b.requests.length, 1);
  });

  it('a job whose sources all fail after a while leaves no part file either (it is created while the probes run)', async () => {
    // 100 ms before each 404: the part file and the hashing thread are up by then.
    const a = await fx.mirror({ body, path: '/artifact.bin', latencyMs: 100 });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'late.bin');
    const { result } = await runJob(fx, { sources: [{ url: a.urlFor('/missing.bin') }], outputPath: output });
    assert.equal(result.error?.code, 'E_NO_USABLE_SOURCE');
    assert.equal(await exists(output), false);
    const { stateDir, part } = statePaths(output);
    assert.equal(await exists(part), false, `left in ${stateDir}: ${(await fsp.readdir(stateDir).catch(() => [])).join(', ')}`);
  });

  it('leaves nothing at the output path when the SHA-256 does not match (E_VERIFICATION_FAILED)', async () => {
    const mirror = await fx.mirror({ body });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'mismatch.bin');
    const { result } = await runJob(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256: 'ab'.repeat(32) } });
    assert.equal(result.ok, false);
    assert.equal(result.error?.code, 'E_VERIFICATION_FAILED');
    assert.equal(await exists(output), false);
    // Every byte was requested once at least: the failure is about content, not transport.
    assert.ok(workRequests(mirror, PIECE).reduce((sum, r) => sum + r.bytesSent, 0) >= SIZE - 64 * KiB);
  });

  it('cancel() mid-download: E_INTERRUPTED, no output, the .part and journal are kept', async () => {
    const mirror = await fx.mirror({ body, bytesPerSecond: 1e6 }); // ~4 s for the whole file
    const dir = await fx.tempDir();
    const output = path.join(dir, 'cancel.bin');
    const { part, journal } = statePaths(output);
    const states: JobState[] = [];
    const { result } = await runJob(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE }, {
      onStart: (job) => {
        job.on('state', (s: JobState) => states.push(s));
        void waitFor(() => job.snapshot().piecesVerified >= 10, 10_000, '10 pieces').then(() => sleep(1200)).then(() => job.cancel());
      },
    });
    assert.equal(result.ok, false);
    assert.equal(result.error?.code, 'E_INTERRUPTED');
    assert.equal(states[states.length - 1], 'cancelled');
    assert.equal(await exists(output), false);
    assert.equal(await exists(part), true, '.part removed on a plain cancel');
    assert.equal((await fsp.stat(part)).size, SIZE);
    const saved = await readJournalDone(journal);
    assert.ok(saved, 'no journal kept on cancel');
    assert.ok(saved.done.length >= 10, `journal lists only ${saved.done.length} done pieces`);
    // The journaled pieces really are on disk in the .part.
    const partBytes = await fsp.readFile(part);
    for (const index of saved.done) {
      const start = index * PIECE;
      assert.ok(partBytes.subarray(start, start + PIECE).equals(body.subarray(start, start + PIECE)), `journaled piece ${index} is not on disk`);
    }
    // The mirror stops being asked once the job ended.
    const count = mirror.requests.length;
    await sleep(300);
    assert.equal(mirror.requests.length, count);
  });

  it('cancel(true) removes the .part and the journal', async () => {
    const mirror = await fx.mirror({ body, bytesPerSecond: 1e6 });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'discard.bin');
    const { part, journal, lock } = statePaths(output);
    const { result } = await runJob(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE }, {
      onStart: (job) => {
        void waitFor(() => exists(journal), 10_000, 'the journal').then(() => job.cancel(true));
      },
    });
    assert.equal(result.ok, false);
    assert.equal(result.error?.code, 'E_INTERRUPTED');
    assert.equal(await exists(output), false);
    assert.equal(await exists(part), false, '.part kept after cancel(true)');
    assert.equal(await exists(journal), false, 'journal kept after cancel(true)');
    assert.equal(await exists(lock), false, 'lock kept after cancel(true)');
  });

  it('pause() stops all transfers; resume() continues and completes with the exact file', async () => {
    const mirror = await fx.mirror({ body, bytesPerSecond: 2e6 });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'pause.bin');
    let pausedAt = 0;
    let resumedAt = 0;
    let bytesAtPause = 0;
    let requestsAtPause = 0;
    let doneAtPause = 0;
    let stateAtPause = '';
    const { result, job } = await runJob(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256 } }, {
      onStart: (j: DownloadJob) => {
        void (async () => {
          await waitFor(() => j.snapshot().piecesVerified >= 8, 10_000, '8 pieces');
          j.pause();
          pausedAt = Date.now();
          stateAtPause = j.snapshot().state;
          await sleep(150); // let aborted transfers wind down
          bytesAtPause = mirror.bytesServed;
          requestsAtPause = mirror.requests.length;
          doneAtPause = j.snapshot().piecesVerified;
          await sleep(800);
          resumedAt = Date.now();
          j.resume();
        })();
      },
    });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.ok(pausedAt > 0 && resumedAt > pausedAt);
    assert.equal(stateAtPause, 'paused');
    assert.equal(job.snapshot().state, 'completed');
    // While paused: no new request, no byte served (beyond what was in flight within 150 ms).
    const during = mirror.requests.filter((r) => r.startedAt > pausedAt + 150 && r.startedAt < resumedAt);
    assert.deepEqual(during.map((r) => r.range), []);
    assert.ok(mirror.bytesServed > bytesAtPause, 'nothing fetched after resume');
    assert.ok(mirror.requests.length > requestsAtPause);
    assert.ok(doneAtPause < SIZE / PIECE, 'everything was done before the pause: the test proves nothing');
    // No byte was fetched twice across the pause beyond the pieces in flight then (4 channels).
    const work = workRequests(mirror, PIECE).reduce((sum, r) => sum + r.bytesSent, 0);
    assert.ok(work <= SIZE + 4 * PIECE + 1 * MiB, `served ${work} bytes for a ${SIZE}-byte file`);
  });

  it('a pause longer than the slow-source grace does not bench a healthy source after resume()', async () => {
    // Regression: the grace window was not reset on pause, so the meter's silence during a long
    // pause made a healthy source look slow at the first tick after resume().
    const slowBody = makeArtifact(8 * MiB, 'pause-grace');
    const fast = await fx.mirror({ body: slowBody, bytesPerSecond: 600e3 });
    const other = await fx.mirror({ body: slowBody, bytesPerSecond: 600e3 });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'pause-grace.bin');
    let stillOpenAtResume = false;
    const { result, job } = await runJob(fx, { sources: [{ url: fast.url }, { url: other.url }], outputPath: output, pieceSize: PIECE, minSourceSpeed: 256 * KiB }, {
      onStart: (j: DownloadJob) => {
        void (async () => {
          await waitFor(() => j.snapshot().sources.every((s) => s.bytes > 0), 10_000, 'both sources delivering');
          await sleep(3200); // past the 3 s grace of both sources
          j.pause();
          await sleep(3500); // longer than the meter's window and the grace
          stillOpenAtResume = j.snapshot().piecesVerified < j.snapshot().pieceCount;
          j.resume();
        })();
      },
    });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, slowBody);
    assert.ok(stillOpenAtResume, 'the file was complete before resume(): the test proves nothing');
    const benched = job.eventLog().filter((e) => /below the minimum speed/.test(e.message));
    assert.deepEqual(benched.map((e) => e.message), [], 'a source was benched as slow right after resume()');
  });

  it('two jobs on the same target: the second gets E_LOCKED and does not disturb the first', async () => {
    const mirror = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'locked.bin');
    const first = new DownloadJob({ sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE });
    const running = first.run();
    fx.track(first, running);
    await waitFor(() => exists(statePaths(output).lock), 5000, 'the lock');
    const { result: second } = await runJob(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE });
    assert.equal(second.ok, false);
    assert.equal(second.error?.code, 'E_LOCKED');
    const result = await running;
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
  });

  it('rejects bad options with E_BAD_ARGUMENTS before touching the network or the disk', async () => {
    const mirror = await fx.mirror({ body });
    const dir = await fx.tempDir();
    const cases: Array<[string, Parameters<typeof runJob>[1]]> = [
      ['no sources', { sources: [], outputPath: path.join(dir, 'a.bin') }],
      ['gopher url', { sources: [{ url: 'gopher://127.0.0.1/x' }], outputPath: path.join(dir, 'b.bin') }],
      ['ftp url through an HTTP proxy', { sources: [{ url: 'ftp://127.0.0.1/x', proxy: 'http://127.0.0.1:9' }], outputPath: path.join(dir, 'e.bin') }],
      ['relative output', { sources: [{ url: mirror.url }], outputPath: 'relative.bin' }],
      ['bad sha', { sources: [{ url: mirror.url }], outputPath: path.join(dir, 'c.bin'), expected: { sha256: 'xyz' } }],
      ['bad piece size', { sources: [{ url: mirror.url }], outputPath: path.join(dir, 'd.bin'), pieceSize: 1000 }],
    ];
    for (const [name, options] of cases) {
      const { result } = await runJob(fx, options);
      assert.equal(result.ok, false, name);
      assert.equal(result.error?.code, 'E_BAD_ARGUMENTS', `${name}: ${JSON.stringify(result.error)}`);
    }
    assert.equal(mirror.requests.length, 0);
    assert.deepEqual(await fsp.readdir(dir), []);
  });
});
