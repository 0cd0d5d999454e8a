import { randomUUID } from 'node:crypto';
import { ErrorCode, FetchError, toFetchError } from '../engine/errors';
import type { JobOptions } from '../engine/jobOptions';
import type { DownloadResult } from '../engine/snapshot';
import type { ProtocolError } from '../protocol/messages';
import type { EngineClientEvents } from '../worker/engineClient';
import { failedResult } from '../worker/failedResult';
import { activeStatuses, type DownloadRequest } from './downloadRecord';
import type { DownloadStore } from './downloadStore';
import { downloadName } from './downloadRows';

/** The part of the worker's EngineClient the controller uses (tests pass a scripted one). */
export interface EngineConnection {
  startJob(jobId: string, options: JobOptions): Promise<void>;
  pauseJob(jobId: string): Promise<void>;
  resumeJob(jobId: string): Promise<void>;
  cancelJob(jobId: string, discard: boolean, options?: JobOptions): Promise<void>;
  isRunning(jobId: string): boolean;
  on<E extends keyof EngineClientEvents>(event: E, listener: (...args: EngineClientEvents[E]) => void): unknown;
  off<E extends keyof EngineClientEvents>(event: E, listener: (...args: EngineClientEvents[E]) => void): unknown;
}

/** Log levels the controller writes at. */
export type ControllerLogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** What the controller needs from its surroundings. */
export interface DownloadControllerDeps {
  store: DownloadStore;
  engine: EngineConnection;
  /** Per-origin headers (access tokens) for one start; read fresh each time and never stored. */
  originHeadersFor(options: JobOptions): Promise<JobOptions['originHeaders']>;
  /** Every line goes through the extension's single redacting log. */
  log(level: ControllerLogLevel, message: string): void;
  newId?: () => string;
}

/**
 * Connects the store to the engine worker: starts, pauses, resumes, cancels and retries
 * downloads, feeds worker snapshots and results into the store, and lets callers await a
 * download's outcome. No `vscode` here: user prompts happen in src/commands before these calls.
 */
export class DownloadController {
  private readonly waiters = new Map<string, Array<(result: DownloadResult) => void>>();
  private readonly listeners: Array<() => void> = [];

  constructor(private readonly deps: DownloadControllerDeps) {
    const { store, log } = deps;
    this.listen('snapshot', (snapshot) => store.applySnapshot(snapshot));
    this.listen('jobResult', (jobId, result) => {
      store.applyResult(jobId, result);
      const record = store.get(jobId);
      const name = record ? downloadName(record) : jobId;
      if (result.ok) log('info', `${name}: done, ${result.size} bytes in ${result.seconds.toFixed(1)} s, verified by ${result.verifiedBy ?? 'nothing'}${result.sha256 ? `, sha256 ${result.sha256}` : ''}`);
      else log(result.error?.code === ErrorCode.Interrupted ? 'info' : 'error', `${name}: ${result.error?.code ?? 'failed'}: ${result.error?.message ?? 'no reason given'}`);
      this.settle(jobId, result);
    });
    this.listen('jobInterrupted', (jobId, error) => {
      store.markInterrupted(jobId, error);
      log('warn', `${jobId}: interrupted (${error.message}); Resume continues from the journal`);
      this.settleWithError(jobId, error);
    });
    this.listen('jobEvent', (jobId, event) => {
      const record = store.get(jobId);
      log(event.kind === 'banned' || event.kind === 'repair' ? 'warn' : 'info', `${record ? downloadName(record) : jobId}: [${event.kind}] ${event.message}`);
    });
    this.listen('log', (level, message) => log(level, `worker: ${message}`));
    this.listen('workerExit', (exitCode) => log('warn', `engine worker exited (code ${exitCode}); a new one starts with the next download`));
  }

  /** Adds a download to the list and starts it; returns its id at once. */
  start(request: DownloadRequest): string {
    const id = (this.deps.newId ?? (() => randomUUID().slice(0, 8)))();
    this.deps.store.add(id, request);
    this.deps.log('info', `${request.name}: starting from ${request.options.sources.length} source(s) into ${request.options.outputPath}`);
    void this.send(id);
    return id;
  }

  /** Resolves with the outcome of the download's current run (an interruption counts as an outcome). */
  whenFinished(id: string): Promise<DownloadResult> {
    const record = this.deps.store.get(id);
    if (!record) return Promise.reject(new FetchError(ErrorCode.BadArguments, `no download ${id}`));
    if (record.result) return Promise.resolve(record.result);
    if (!activeStatuses.has(record.status) && record.status !== 'paused') {
      return Promise.resolve(failedResult(record.request.options, record.error ?? { code: ErrorCode.Interrupted, message: record.status }));
    }
    return new Promise((resolve) => {
      const list = this.waiters.get(id) ?? [];
      list.push(resolve);
      this.waiters.set(id, list);
    });
  }

  async pause(id: string): Promise<void> {
    this.requireRecord(id);
    await this.deps.engine.pauseJob(id);
  }

  /** Continues a paused download, or starts an interrupted one again from its journal. */
  async resume(id: string): Promise<void> {
    const record = this.requireRecord(id);
    if (record.status === 'paused' && this.deps.engine.isRunning(id)) {
      await this.deps.engine.resumeJob(id);
      return;
    }
    if (record.status === 'interrupted' || record.status === 'paused') {
      await this.restart(id);
      return;
    }
    throw new FetchError(ErrorCode.BadArguments, `${downloadName(record)} is ${record.status}, not paused or interrupted`);
  }

  /** Starts a failed or cancelled download again; kept pieces are reused by the engine. */
  async retry(id: string): Promise<void> {
    const record = this.requireRecord(id);
    if (record.status !== 'failed' && record.status !== 'cancelled' && record.status !== 'interrupted') {
      throw new FetchError(ErrorCode.BadArguments, `${downloadName(record)} is ${record.status}; only a stopped download can be retried`);
    }
    await this.restart(id);
  }

  /** Stops a download; `discard` also deletes its partial file and journal (engine's cancel(true)). */
  async cancel(id: string, discard: boolean): Promise<void> {
    const record = this.requireRecord(id);
    if (this.deps.engine.isRunning(id)) {
      await this.deps.engine.cancelJob(id, discard);
      return;
    }
    if (discard) await this.deps.engine.cancelJob(id, true, record.request.options);
    if (record.status === 'interrupted' || record.status === 'starting') {
      const error: ProtocolError = { code: ErrorCode.Interrupted, message: discard ? 'cancelled; partial data deleted' : 'cancelled; partial data kept' };
      this.deps.store.markEnded(id, 'cancelled', error);
      this.settleWithError(id, error);
    }
  }

  /** Takes a stopped download off the list (its file stays where it is). */
  remove(id: string): void {
    const record = this.requireRecord(id);
    if (this.deps.engine.isRunning(id) || activeStatuses.has(record.status)) {
      throw new FetchError(ErrorCode.BadArguments, `${downloadName(record)} is still running; cancel it first`);
    }
    this.deps.store.remove(id);
  }

  dispose(): void {
    for (const unsubscribe of this.listeners) unsubscribe();
    this.listeners.length = 0;
  }

  private async restart(id: string): Promise<void> {
    this.deps.store.markStarting(id);
    await this.send(id);
  }

  private async send(id: string): Promise<void> {
    const record = this.deps.store.get(id);
    if (!record) return;
    try {
      const originHeaders = await this.deps.originHeadersFor(record.request.options);
      const options: JobOptions = originHeaders ? { ...record.request.options, originHeaders } : record.request.options;
      await this.deps.engine.startJob(id, options);
    } catch (error) {
      const failure = toFetchError(error);
      // A worker that died during the start has already reported the job as interrupted.
      if (this.deps.store.get(id)?.status === 'interrupted') return;
      const problem: ProtocolError = { code: failure.code, message: failure.message };
      this.deps.store.markEnded(id, 'failed', problem);
      this.deps.log('error', `${record.request.name}: could not start: ${failure.code}: ${failure.message}`);
      this.settleWithError(id, problem);
    }
  }

  private requireRecord(id: string) {
    const record = this.deps.store.get(id);
    if (!record) throw new FetchError(ErrorCode.BadArguments, `no download ${id}`);
    return record;
  }

  private settleWithError(id: string, error: ProtocolError): void {
    const record = this.deps.store.get(id);
    if (record) this.settle(id, failedResult(record.request.options, error));
  }

  private settle(id: string, result: DownloadResult): void {
    const list = this.waiters.get(id);
    this.waiters.delete(id);
    for (const resolve of list ?? []) resolve(result);
  }

  private listen<E extends keyof EngineClientEvents>(event: E, listener: (...args: EngineClientEvents[E]) => void): void {
    this.deps.engine.on(event, listener);
    this.listeners.push(() => this.deps.engine.off(event, listener));
  }
}
