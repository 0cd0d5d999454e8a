// STUB: the real engine is being written. The public surface below is the contract.
import { EventEmitter } from 'node:events';
import type { JobOptions } from './jobOptions';
import type { DownloadResult, JobSnapshot } from './snapshot';

/**
 * One artifact fetched from many sources. Events: 'event' (JobEvent: a decision worth logging),
 * 'state' (JobState changed). `run()` never rejects: a failure resolves with ok=false and an error code.
 */
export class DownloadJob extends EventEmitter {
  readonly id: string;
  constructor(readonly options: JobOptions, id?: string) {
    super();
    this.id = id ?? Math.random().toString(36).slice(2, 10);
  }
  run(): Promise<DownloadResult> { throw new Error('not yet'); }
  pause(): void {}
  resume(): void {}
  /** Stops the job; with discard=true the .part and journal are deleted, else kept for resume. */
  cancel(_discard = false): void {}
  snapshot(): JobSnapshot { throw new Error('not yet'); }
}
