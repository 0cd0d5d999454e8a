import type { JobOptions } from '../engine/jobOptions';
import type { DownloadResult, JobEvent, JobSnapshot, JobState } from '../engine/snapshot';
import type { VerifiedStreams } from '../engine/stream/verifiedStreams';

/**
 * The part of the engine's DownloadJob the worker relies on. Kept as an interface so the worker's
 * plumbing can be exercised with a scripted job in tests; DownloadJob satisfies it as it is.
 */
export interface HostedJob {
  readonly id: string;
  /** The job's verified streams (absent in scripted test jobs: they cannot be streamed). */
  readonly streams?: VerifiedStreams;
  run(): Promise<DownloadResult>;
  pause(): void;
  resume(): void;
  cancel(discard?: boolean): void;
  snapshot(): JobSnapshot;
  on(event: 'event', listener: (event: JobEvent) => void): unknown;
  on(event: 'state', listener: (state: JobState) => void): unknown;
}

/** Builds the job for one run; the id is the host's, stable across restarts of the same download. */
export type JobFactory = (options: JobOptions, jobId: string) => HostedJob;
