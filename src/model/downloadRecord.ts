import type { JobOptions } from '../engine/jobOptions';
import type { DownloadResult, JobSnapshot, JobState } from '../engine/snapshot';

/** Where a download was asked for; decides e.g. whether it gets a progress notification. */
export type DownloadOrigin = 'palette' | 'metalink' | 'api' | 'uri' | 'restored';

/** The engine's job states plus the two only the host knows: sent but not yet reported, and cut off by a worker death. */
export type DownloadStatus = JobState | 'starting' | 'interrupted';

/** Statuses in which the engine is (or is about to be) moving bytes or hashing them. */
export const activeStatuses: ReadonlySet<DownloadStatus> = new Set<DownloadStatus>(['starting', 'probing', 'downloading', 'verifying', 'repairing']);

/** Statuses after which nothing happens until the user acts. */
export const finishedStatuses: ReadonlySet<DownloadStatus> = new Set<DownloadStatus>(['completed', 'failed', 'cancelled', 'interrupted']);

/** What the host needs to start a download again: the same options resume from the engine's journal. */
export interface DownloadRequest {
  /** Name shown until the engine's first snapshot names the download. */
  name: string;
  /** Job options without `originHeaders`: tokens are read from SecretStorage at every start, never kept here. */
  options: JobOptions;
  origin: DownloadOrigin;
}

/** Everything the views know about one download. */
export interface DownloadRecord {
  readonly id: string;
  readonly request: DownloadRequest;
  status: DownloadStatus;
  /** The latest snapshot from the worker (kept after the job ends, for display). */
  snapshot?: JobSnapshot;
  /** The final result of the last run. */
  result?: DownloadResult;
  /** Why the last run failed, was cancelled or interrupted (code from ErrorCode, message safe to show). */
  error?: { code: string; message: string };
  /** When the download was added (ms since epoch). */
  readonly addedAt: number;
}
