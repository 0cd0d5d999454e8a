import * as assert from 'node:assert/strict';
import { ErrorCode } from '../../src/engine/errors';
import type { JobOptions } from '../../src/engine/jobOptions';
import type { JobResultMessage, SnapshotMessage, WorkerToHostMessage } from '../../src/protocol/messages';
import { JobHost } from '../../src/worker/jobHost';
import { ScriptedJob } from './fixtures/scriptedJob';

function options(size = 200_000): JobOptions {
  return { sources: [{ url: 'http://127.0.0.1:9/x.bin' }], outputPath: '/tmp/x.bin', expected: { size }, limitBytesPerSecond: 20_000_000 };
}

describe('JobHost (in the worker)', () => {
  let posted: WorkerToHostMessage[];
  let created: ScriptedJob[];
  let host: JobHost;

  beforeEach(() => {
    posted = [];
    created = [];
    host = new JobHost((message) => posted.push(message), (jobOptions, jobId) => {
      const job = new ScriptedJob(jobOptions, jobId);
      created.push(job);
      return job;
    }, 20);
  });

  afterEach(() => host.shutdown());

  const resultOf = (jobId: string) => new Promise<JobResultMessage>((resolve) => {
    const poll = setInterval(() => {
      const found = posted.find((message): message is JobResultMessage => message.type === 'jobResult' && message.jobId === jobId);
      if (found) { clearInterval(poll); resolve(found); }
    }, 5);
  });

  it('runs a job to its result, posting its state changes and a final snapshot first', async () => {
    host.startJob({ jobId: 'a', options: options() });
    const result = await resultOf('a');
    assert.equal(result.result.ok, true);
    const snapshots = posted.filter((message): message is SnapshotMessage => message.type === 'snapshot');
    assert.equal(snapshots.at(-1)?.snapshot.state, 'completed');
    assert.ok(posted.indexOf(snapshots.at(-1)!) < posted.indexOf(result), 'the final snapshot precedes the result');
    assert.deepEqual(host.runningJobIds(), []);
  });

  it('refuses a second start of a running job and bad options', () => {
    host.startJob({ jobId: 'a', options: options(10_000_000) });
    assert.throws(() => host.startJob({ jobId: 'a', options: options() }), (error: { code?: string }) => error.code === ErrorCode.BadArguments);
    assert.throws(() => host.startJob({ jobId: 'b', options: { ...options(), sources: [] } }), /at least one source/);
  });

  it('pauses and resumes a running job, and refuses to pause an unknown one', async () => {
    host.startJob({ jobId: 'a', options: options(10_000_000) });
    await new Promise((resolve) => setTimeout(resolve, 20));
    host.pauseJob({ jobId: 'a' });
    assert.equal(created[0].snapshot().state, 'paused');
    host.resumeJob({ jobId: 'a' });
    assert.equal(created[0].snapshot().state, 'downloading');
    assert.throws(() => host.pauseJob({ jobId: 'nope' }), /not running/);
  });

  it('discards the state of a job it is not running when given its options', async () => {
    await host.cancelJob({ jobId: 'orphan', discard: true, options: options() });
    assert.equal(created.length, 1);
    assert.equal(created[0].cancelledWithDiscard, true);
  });

  it('cancels everything on shutdown, keeping resumable state', async () => {
    host.startJob({ jobId: 'a', options: options(10_000_000) });
    host.startJob({ jobId: 'b', options: options(10_000_000) });
    await host.shutdown();
    assert.deepEqual(created.map((job) => job.cancelledWithDiscard), [false, false]);
    assert.equal(posted.filter((message) => message.type === 'jobResult').length, 2);
  });
});
