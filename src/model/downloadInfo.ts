import type { DownloadResult } from '../engine/snapshot';
import type { DownloadRecord, DownloadStatus } from './downloadRecord';
import { downloadName } from './downloadRows';
import { percentDone } from './units';

/** A download as the exported API describes it (a stable, plain-data view of a record). */
export interface DownloadInfo {
  id: string;
  name: string;
  status: DownloadStatus;
  outputPath: string;
  size: number;
  bytesDone: number;
  /** Whole percent, when the size is known. */
  percent?: number;
  bytesPerSecond: number;
  etaSeconds?: number;
  /** The final result of the last run, once there is one. */
  result?: DownloadResult;
  error?: { code: string; message: string };
}

/** The API's view of one record. */
export function downloadInfo(record: DownloadRecord): DownloadInfo {
  const snapshot = record.snapshot;
  const size = record.result?.size || snapshot?.size || 0;
  const bytesDone = record.status === 'completed' ? size : snapshot?.bytesDone ?? 0;
  return {
    id: record.id,
    name: downloadName(record),
    status: record.status,
    outputPath: record.request.options.outputPath,
    size,
    bytesDone,
    percent: percentDone(bytesDone, size),
    bytesPerSecond: record.status === 'downloading' || record.status === 'repairing' ? snapshot?.bytesPerSecond ?? 0 : 0,
    etaSeconds: snapshot?.etaSeconds,
    result: record.result,
    error: record.error,
  };
}
