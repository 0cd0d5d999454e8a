import * as assert from 'node:assert/strict';
import { ErrorCode } from '../../src/engine/errors';
import type { JobOptions } from '../../src/engine/jobOptions';
import type { DownloadResult, JobSnapshot } from '../../src/engine/snapshot';
import type { EngineClient } from '../../src/worker/engineClient';
import { clientFor, SCRIPTED_WORKER, waitFor } from './fixtures/workerSpawning';

function options(size: number, bytesPerSecond: number): JobOptions {
  return { sources: [{ url: 'http://127.0.0.1:9/x.bin' }], outputPath: '/tmp/x.bin', expected: { size }, limitBytesPerSecond: bytesPerSecond };
}

const resultFor = (client: EngineClient, jobId: string) =>
  waitFor<[string, DownloadResult]>((listener) => { client.on('jobResult', listener); return () => client.off('jobResult', listener); }, (id) => id === jobId);

describe('EngineClient with a worker thread (scripted engine)', function () {
  this.timeout(20_000);
  let client: EngineClient;
  let workers: import('node:worker_threads').Worker[];

  beforeEach(() => ({ client, workers } = clientFor(SCRIPTED_WORKER)));
  afterEach(() => client.dispose());

  it('spawns the worker on first use, starts a job and relays its result', async () => {
    const finished = resultFor(client, 'a');
    await client.startJob('a', options(100_000, 10_000_000));
    assert.equal(workers.length, 1);
    assert.equal(client.isRunning('a'), true);
    const [, result] = await finished;
    assert.equal(result.ok, true);
    assert.equal(client.isRunning('a'), false);
  });

  it('rejects a failed request with the error code from the worker', async () => {
    await client.startJob('a', options(50_000_000, 1_000_000));
    await assert.rejects(client.startJob('a', options(1, 1)), (error: { code?: string; message: string }) => error.code === ErrorCode.BadArguments && /already running/.test(error.message));
    await assert.rejects(client.request('verifyFile', { path: '/nope' }), (error: { code?: string }) => error.code === ErrorCode.Internal);
    assert.equal(client.isRunning('a'), true, 'a refused duplicate start does not forget the running job');
  });

  it('receives snapshots at most ~5 per second, and state changes at once', async () => {
    const snapshots: Array<{ at: number; snapshot: JobSnapshot }> = [];
    client.on('snapshot', (snapshot) => snapshots.push({ at: Date.now(), snapshot }));
    await client.startJob('a', options(50_000_000, 1_000_000));
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const pausedAt = Date.now();
    await client.pauseJob('a');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const downloading = snapshots.filter((entry) => entry.snapshot.state === 'downloading');
    assert.ok(downloading.length >= 6 && downloading.length <= 13, `${downloading.length} snapshots in ~2 s`);
    const paused = snapshots.find((entry) => entry.snapshot.state === 'paused');
    assert.ok(paused && paused.at - pausedAt < 100, 'the paused state arrived without waiting for the interval');
  });

  it('marks running jobs interrupted when the worker dies, and spawns a new worker for the restart', async () => {
    await client.startJob('a', options(50_000_000, 1_000_000));
    await client.startJob('b', options(50_000_000, 1_000_000));
    const interrupted: string[] = [];
    client.on('jobInterrupted', (jobId, error) => {
      assert.equal(error.code, ErrorCode.Interrupted);
      interrupted.push(jobId);
    });
    const exited = waitFor<[number]>((listener) => { client.on('workerExit', listener); return () => client.off('workerExit', listener); });
    await workers[0].terminate();
    await exited;
    assert.deepEqual(interrupted.sort(), ['a', 'b']);
    assert.equal(client.isRunning('a'), false);

    const finished = resultFor(client, 'a');
    await client.startJob('a', options(100_000, 10_000_000));
    assert.equal(workers.length, 2, 'a new worker took over');
    assert.equal((await finished)[1].ok, true);
  });

  it('rejects requests that were in flight when the worker died', async () => {
    await client.startJob('warmup', options(50_000_000, 1_000_000));
    const pending = client.pauseJob('warmup');
    void workers[0].terminate();
    await pending.catch((error: { code?: string }) => assert.equal(error.code, ErrorCode.Interrupted));
  });

  it('stops jobs on dispose and refuses requests afterwards', async () => {
    await client.startJob('a', options(50_000_000, 1_000_000));
    const results: DownloadResult[] = [];
    client.on('jobResult', (_id, result) => results.push(result));
    await client.dispose();
    assert.equal(results[0]?.error?.code, ErrorCode.Interrupted, 'the job was cancelled with its state kept');
    await assert.rejects(client.pauseJob('a'), /shut down/);
  });
});
