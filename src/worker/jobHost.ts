import { ErrorCode, FetchError, toFetchError } from '../engine/errors';
import type { JobOptions } from '../engine/jobOptions';
import type { DownloadResult } from '../engine/snapshot';
import { SNAPSHOT_INTERVAL_MS, type ParamsOf, type ResultOf, type WorkerToHostMessage } from '../protocol/messages';
import { failedResult } from './failedResult';
import type { HostedJob, JobFactory } from './hostedJob';
import { SnapshotPump } from './snapshotPump';
import { StreamEndpoint } from '../engine/stream/streamEndpoint';
import * as path from 'node:path';

/** How long `shutdown` waits for cancelled jobs to flush their journals before giving up on them. */
const SHUTDOWN_GRACE_MS = 5_000;

/**
 * Runs every download of the extension inside the worker: starts engine jobs, forwards their
 * events, coalesced snapshots and final results to the host, and routes pause/resume/cancel.
 */
export class JobHost {
  private readonly jobs = new Map<string, HostedJob>();
  private readonly finished = new Map<string, Promise<void>>();
  private readonly pump: SnapshotPump;
  private readonly names = new Map<string, string>();
  private endpoint?: Promise<StreamEndpoint>;

  constructor(
    private readonly post: (message: WorkerToHostMessage) => void,
    private readonly createJob: JobFactory,
    snapshotIntervalMs = SNAPSHOT_INTERVAL_MS,
  ) {
    this.pump = new SnapshotPump(snapshotIntervalMs, (snapshot) => this.post({ type: 'snapshot', snapshot }));
  }

  /** Starts a job; a job id that is still running is refused (the host restarts only stopped jobs). */
  startJob({ jobId, options }: ParamsOf<'startJob'>): ResultOf<'startJob'> {
    if (this.jobs.has(jobId)) throw new FetchError(ErrorCode.BadArguments, `download ${jobId} is already running`);
    checkOptionsShape(options);
    const job = this.createJob(options, jobId);
    this.jobs.set(jobId, job);
    this.names.set(jobId, path.basename(options.outputPath));
    job.on('event', (event) => this.post({ type: 'jobEvent', jobId, event }));
    job.on('state', () => this.pump.sendNow(jobId));
    this.pump.track(jobId, () => job.snapshot());
    this.finished.set(jobId, this.runToEnd(jobId, job, options));
    return { jobId };
  }

  pauseJob({ jobId }: ParamsOf<'pauseJob'>): ResultOf<'pauseJob'> {
    this.runningJob(jobId).pause();
    this.pump.sendNow(jobId);
  }

  resumeJob({ jobId }: ParamsOf<'resumeJob'>): ResultOf<'resumeJob'> {
    this.runningJob(jobId).resume();
    this.pump.sendNow(jobId);
  }

  /**
   * Cancels a running job. A job that is not running here (e.g. interrupted by a worker crash) can
   * still be discarded when the host passes its options: the engine then deletes its .part and journal.
   */
  async cancelJob({ jobId, discard, options }: ParamsOf<'cancelJob'>): Promise<ResultOf<'cancelJob'>> {
    const job = this.jobs.get(jobId);
    if (job) {
      job.cancel(discard);
      return;
    }
    if (!discard || !options) return;
    const orphan = this.createJob(options, jobId);
    orphan.cancel(true);
    await settleWithin(orphan.run().then(() => undefined), SHUTDOWN_GRACE_MS);
  }

  /** The stream URL of a running job; the endpoint (127.0.0.1, any free port) starts on first use. */
  async openStreamUrl({ jobId }: ParamsOf<'openStreamUrl'>): Promise<ResultOf<'openStreamUrl'>> {
    const job = this.runningJob(jobId);
    if (!job.streams) throw new FetchError(ErrorCode.BadArguments, `download ${jobId} cannot be streamed`);
    this.endpoint ??= StreamEndpoint.start();
    const endpoint = await this.endpoint.catch((error: Error) => {
      this.endpoint = undefined;
      throw new FetchError(ErrorCode.Internal, `could not start the stream endpoint: ${error.message}`);
    });
    // Checked again: the job may have ended while the endpoint started.
    if (this.jobs.get(jobId) !== job) throw new FetchError(ErrorCode.BadArguments, `download ${jobId} is not running`);
    return { url: endpoint.publish(jobId, this.names.get(jobId) ?? 'artifact', job.streams) };
  }

  /** Cancels every job, keeping resumable state, and waits (bounded) for them to finish writing. */
  async shutdown(): Promise<void> {
    for (const job of this.jobs.values()) job.cancel(false);
    await settleWithin(Promise.all(this.finished.values()).then(() => undefined), SHUTDOWN_GRACE_MS);
    this.pump.dispose();
    await (await this.endpoint?.catch(() => undefined))?.close();
  }

  /** Ids of the jobs currently running in this worker. */
  runningJobIds(): string[] {
    return [...this.jobs.keys()];
  }

  private async runToEnd(jobId: string, job: HostedJob, options: JobOptions): Promise<void> {
    let result: DownloadResult;
    try {
      result = await job.run();
    } catch (error) {
      // run() is documented never to reject; this keeps a broken promise from stranding the host.
      const failure = toFetchError(error);
      result = failedResult(options, { code: failure.code, message: failure.message });
    }
    this.pump.sendNow(jobId);
    this.pump.untrack(jobId);
    this.jobs.delete(jobId);
    this.finished.delete(jobId);
    this.names.delete(jobId);
    // A restart of the same download is a new job with new streams: it gets a new URL and token.
    void this.endpoint?.then((endpoint) => endpoint.unpublish(jobId), () => undefined);
    this.post({ type: 'jobResult', jobId, result });
  }

  private runningJob(jobId: string): HostedJob {
    const job = this.jobs.get(jobId);
    if (!job) throw new FetchError(ErrorCode.BadArguments, `download ${jobId} is not running`);
    return job;
  }
}

function checkOptionsShape(options: JobOptions): void {
  if (!options || !Array.isArray(options.sources) || options.sources.length === 0) {
    throw new FetchError(ErrorCode.BadArguments, 'a download needs at least one source');
  }
  if (typeof options.outputPath !== 'string' || options.outputPath.length === 0) {
    throw new FetchError(ErrorCode.BadArguments, 'a download needs an output path');
  }
}

async function settleWithin(promise: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); });
  try {
    await Promise.race([promise.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
