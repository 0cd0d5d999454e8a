import * as assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { ErrorCode, FetchError } from '../../src/engine/errors';
import type { JobOptions } from '../../src/engine/jobOptions';
import type { DownloadResult } from '../../src/engine/snapshot';
import { DownloadController } from '../../src/model/downloadController';
import { DownloadStore } from '../../src/model/downloadStore';
import type { EngineClientEvents } from '../../src/worker/engineClient';
import { sampleRequest, sampleSnapshot } from './fixtures';

/** Records what the controller asks of the engine; tests emit the engine's answers. */
class ScriptedEngine extends EventEmitter<EngineClientEvents> {
  calls: Array<{ method: string; jobId: string; options?: JobOptions; discard?: boolean }> = [];
  running = new Set<string>();
  failNextStart: FetchError | undefined;
  async startJob(jobId: string, options: JobOptions): Promise<void> {
    this.calls.push({ method: 'startJob', jobId, options });
    if (this.failNextStart) {
      const error = this.failNextStart;
      this.failNextStart = undefined;
      throw error;
    }
    this.running.add(jobId);
  }
  async pauseJob(jobId: string): Promise<void> { this.calls.push({ method: 'pauseJob', jobId }); }
  async resumeJob(jobId: string): Promise<void> { this.calls.push({ method: 'resumeJob', jobId }); }
  async cancelJob(jobId: string, discard: boolean, options?: JobOptions): Promise<void> { this.calls.push({ method: 'cancelJob', jobId, discard, options }); }
  isRunning(jobId: string): boolean { return this.running.has(jobId); }
  finish(jobId: string, result: DownloadResult): void {
    this.running.delete(jobId);
    this.emit('jobResult', jobId, result);
  }
  die(): void {
    for (const jobId of this.running) this.emit('jobInterrupted', jobId, { code: ErrorCode.Interrupted, message: 'the engine worker stopped' });
    this.running.clear();
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

function result(ok: boolean, code?: string): DownloadResult {
  return { ok, path: '/ws/artifacts/model.bin', size: 10, pieceSize: 16384, seconds: 1, bytesFetched: 10, bytesResumed: 0, sources: [], error: code ? { code, message: code } : undefined };
}

describe('DownloadController', () => {
  let store: DownloadStore;
  let engine: ScriptedEngine;
  let controller: DownloadController;
  let logLines: string[];

  beforeEach(() => {
    store = new DownloadStore();
    engine = new ScriptedEngine();
    logLines = [];
    let next = 0;
    controller = new DownloadController({
      store,
      engine,
      originHeadersFor: async () => ({ 'http://127.0.0.1:9': { Authorization: 'Bearer secret' } }),
      log: (level, message) => logLines.push(`${level} ${message}`),
      newId: () => `job${++next}`,
    });
  });

  afterEach(() => controller.dispose());

  it('starts a download with fresh origin headers but never stores them', async () => {
    const id = controller.start(sampleRequest());
    await flush();
    assert.equal(engine.calls[0].method, 'startJob');
    assert.deepEqual(engine.calls[0].options?.originHeaders, { 'http://127.0.0.1:9': { Authorization: 'Bearer secret' } });
    assert.equal(store.get(id)?.request.options.originHeaders, undefined);
  });

  it('feeds snapshots to the store and resolves whenFinished with the result', async () => {
    const id = controller.start(sampleRequest());
    const finished = controller.whenFinished(id);
    await flush();
    engine.emit('snapshot', sampleSnapshot(id));
    assert.equal(store.get(id)?.status, 'downloading');
    engine.finish(id, result(true));
    assert.equal((await finished).ok, true);
    assert.equal(store.get(id)?.status, 'completed');
  });

  it('shows a worker death as interrupted and resumes by starting the same options again', async () => {
    const id = controller.start(sampleRequest());
    const finished = controller.whenFinished(id);
    await flush();
    engine.die();
    assert.equal((await finished).error?.code, ErrorCode.Interrupted);
    assert.equal(store.get(id)?.status, 'interrupted');
    await controller.resume(id);
    const starts = engine.calls.filter((call) => call.method === 'startJob');
    assert.equal(starts.length, 2);
    assert.equal(starts[1].jobId, id);
    assert.equal(starts[1].options?.outputPath, starts[0].options?.outputPath);
    assert.equal(store.get(id)?.status, 'starting');
  });

  it('resumes a paused job in place', async () => {
    const id = controller.start(sampleRequest());
    await flush();
    engine.emit('snapshot', sampleSnapshot(id, { state: 'paused' }));
    await controller.resume(id);
    assert.deepEqual(engine.calls.map((call) => call.method), ['startJob', 'resumeJob']);
  });

  it('retries only stopped downloads', async () => {
    const id = controller.start(sampleRequest());
    await flush();
    await assert.rejects(controller.retry(id), /only a stopped download/);
    engine.finish(id, result(false, ErrorCode.NoUsableSource));
    await controller.retry(id);
    assert.equal(engine.calls.filter((call) => call.method === 'startJob').length, 2);
  });

  it('marks a download failed when the worker refuses to start it', async () => {
    engine.failNextStart = new FetchError(ErrorCode.BadArguments, 'a download needs an output path');
    const id = controller.start(sampleRequest());
    const finished = await controller.whenFinished(id);
    assert.equal(finished.error?.code, ErrorCode.BadArguments);
    assert.equal(store.get(id)?.status, 'failed');
    assert.ok(logLines.some((line) => line.startsWith('error') && line.includes('could not start')));
  });

  it('discards an interrupted download through the worker with its options', async () => {
    const id = controller.start(sampleRequest());
    await flush();
    engine.die();
    await controller.cancel(id, true);
    const cancel = engine.calls.find((call) => call.method === 'cancelJob');
    assert.equal(cancel?.discard, true);
    assert.equal(cancel?.options?.outputPath, '/ws/artifacts/model.bin');
    assert.equal(store.get(id)?.status, 'cancelled');
  });

  it('cancels a running download in the worker, keeping partial data unless asked', async () => {
    const id = controller.start(sampleRequest());
    await flush();
    await controller.cancel(id, false);
    assert.deepEqual(engine.calls.at(-1), { method: 'cancelJob', jobId: id, discard: false, options: undefined });
  });

  it('refuses to remove a running download', async () => {
    const id = controller.start(sampleRequest());
    await flush();
    assert.throws(() => controller.remove(id), /cancel it first/);
    engine.finish(id, result(true));
    controller.remove(id);
    assert.equal(store.get(id), undefined);
  });

  it('logs engine decisions with the download name', async () => {
    const id = controller.start(sampleRequest());
    await flush();
    engine.emit('jobEvent', id, { at: 0, kind: 'banned', sourceId: 1, message: 'mirror-b sent bad bytes 3 times' });
    assert.ok(logLines.includes('warn model.bin: [banned] mirror-b sent bad bytes 3 times'));
  });
});
