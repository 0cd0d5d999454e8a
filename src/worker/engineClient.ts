import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { ErrorCode, FetchError } from '../engine/errors';
import type { JobOptions } from '../engine/jobOptions';
import type { DownloadResult, JobEvent, JobSnapshot } from '../engine/snapshot';
import {
  isWorkerToHostMessage,
  PROTOCOL_VERSION,
  type LogMessage,
  type ParamsOf,
  type ProtocolError,
  type RequestMessage,
  type ResultOf,
  type WorkerMethod,
  type WorkerToHostMessage,
} from '../protocol/messages';

/** How long `dispose` lets the worker save journals before it is terminated. */
const SHUTDOWN_TIMEOUT_MS = 6_000;

/** Events of {@link EngineClient}, with their listener arguments. */
export interface EngineClientEvents {
  /** The latest (coalesced) state of a job. */
  snapshot: [snapshot: JobSnapshot];
  /** A decision of the engine worth logging. */
  jobEvent: [jobId: string, event: JobEvent];
  /** A job finished (ok or not). */
  jobResult: [jobId: string, result: DownloadResult];
  /** A job was running when the worker died; start it again to resume from its journal. */
  jobInterrupted: [jobId: string, error: ProtocolError];
  /** A line for the log (not yet redacted on the host). */
  log: [level: LogMessage['level'], message: string];
  /** The worker exited; the next request starts a new one. */
  workerExit: [exitCode: number];
}

/** How the client starts its worker. */
export interface EngineClientOptions {
  /** Absolute path of the worker entry: dist/worker.js, or src/worker/workerMain.ts when execArgv loads tsx. */
  workerPath: string;
  /** Node flags for the worker (e.g. `['--require', 'tsx/cjs']` to run the TypeScript entry). */
  execArgv?: string[];
  /** Creates the worker; tests pass their own to keep a handle on it (e.g. to terminate it). */
  spawnWorker?: (workerPath: string, execArgv: string[] | undefined) => Worker;
}

interface PendingRequest {
  method: WorkerMethod;
  resolve: (result: unknown) => void;
  reject: (error: FetchError) => void;
}

/**
 * The host's handle on the engine worker: spawns it on first use, correlates requests with
 * responses, re-emits snapshots, events and results, and turns a worker death into
 * `jobInterrupted` for every job it was running (a new worker is spawned on the next request).
 * It never imports `vscode`, so it runs the same in the extension host and in plain Node tests.
 */
export class EngineClient extends EventEmitter<EngineClientEvents> {
  private worker: Worker | undefined;
  private nextRequestId = 1;
  private readonly pending = new Map<number, PendingRequest>();
  private readonly runningJobs = new Set<string>();
  private disposed = false;

  constructor(private readonly options: EngineClientOptions) {
    super();
  }

  /** Starts (or restarts, to resume from its journal) a job in the worker. */
  async startJob(jobId: string, options: JobOptions): Promise<void> {
    // Counted as running before the answer arrives: a crash in between must still interrupt it.
    const alreadyRunning = this.runningJobs.has(jobId);
    this.runningJobs.add(jobId);
    try {
      await this.request('startJob', { jobId, options });
    } catch (error) {
      // A refused duplicate start must not forget the run that is still going.
      if (!alreadyRunning) this.runningJobs.delete(jobId);
      throw error;
    }
  }

  pauseJob(jobId: string): Promise<void> {
    return this.request('pauseJob', { jobId });
  }

  resumeJob(jobId: string): Promise<void> {
    return this.request('resumeJob', { jobId });
  }

  /** Cancels a job; `discard` deletes its partial data (pass `options` for a job the worker is not running). */
  cancelJob(jobId: string, discard: boolean, options?: JobOptions): Promise<void> {
    return this.request('cancelJob', { jobId, discard, options });
  }

  /** The loopback stream URL (with its token) of a running job. */
  async openStreamUrl(jobId: string): Promise<string> {
    return (await this.request('openStreamUrl', { jobId })).url;
  }

  /** True while the current worker runs `jobId` (started, no result yet). */
  isRunning(jobId: string): boolean {
    return this.runningJobs.has(jobId);
  }

  /** Sends one request to the worker and resolves with its typed result. */
  request<M extends WorkerMethod>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    if (this.disposed) return Promise.reject(new FetchError(ErrorCode.Interrupted, 'the engine has been shut down'));
    const worker = this.ensureWorker();
    const requestId = this.nextRequestId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      this.pending.set(requestId, { method, resolve: resolve as (result: unknown) => void, reject });
      const message = { type: 'request', requestId, method, params } as RequestMessage;
      worker.postMessage(message);
    });
  }

  /** Asks the worker to stop every job while keeping resumable state, then terminates it. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    const worker = this.worker;
    if (worker) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS); });
      await Promise.race([this.request('shutdown', {}).catch(() => undefined), timeout]);
      clearTimeout(timer);
    }
    this.disposed = true;
    if (worker) await worker.terminate();
    this.removeAllListeners();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const spawn = this.options.spawnWorker ?? ((path, execArgv) => new Worker(path, { execArgv }));
    const worker = spawn(this.options.workerPath, this.options.execArgv);
    this.worker = worker;
    worker.on('message', (message: unknown) => this.onMessage(message));
    worker.on('error', (error: Error) => this.emit('log', 'error', `engine worker failed: ${error.message}`));
    worker.on('exit', (exitCode: number) => this.onExit(worker, exitCode));
    return worker;
  }

  private onMessage(message: unknown): void {
    if (!isWorkerToHostMessage(message)) return;
    this.handle(message);
  }

  private handle(message: WorkerToHostMessage): void {
    switch (message.type) {
      case 'ready':
        if (message.protocolVersion !== PROTOCOL_VERSION) {
          this.emit('log', 'error', `engine worker speaks protocol ${message.protocolVersion}, expected ${PROTOCOL_VERSION}`);
        }
        return;
      case 'response': {
        const pending = this.pending.get(message.requestId);
        if (!pending) return;
        this.pending.delete(message.requestId);
        if (message.ok) pending.resolve(message.result ?? undefined);
        else pending.reject(new FetchError(message.error.code, message.error.message));
        return;
      }
      case 'snapshot':
        this.emit('snapshot', message.snapshot);
        return;
      case 'jobEvent':
        this.emit('jobEvent', message.jobId, message.event);
        return;
      case 'jobResult':
        this.runningJobs.delete(message.jobId);
        this.emit('jobResult', message.jobId, message.result);
        return;
      case 'log':
        this.emit('log', message.level, message.message);
        return;
    }
  }

  private onExit(worker: Worker, exitCode: number): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    const stopped = { code: ErrorCode.Interrupted, message: `the engine worker stopped (exit code ${exitCode})` } as const;
    for (const [requestId, pending] of this.pending) {
      this.pending.delete(requestId);
      pending.reject(new FetchError(stopped.code, `${pending.method}: ${stopped.message}`));
    }
    const interrupted = [...this.runningJobs];
    this.runningJobs.clear();
    if (this.disposed) return;
    for (const jobId of interrupted) this.emit('jobInterrupted', jobId, stopped);
    this.emit('workerExit', exitCode);
  }
}
