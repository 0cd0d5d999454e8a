import type { JobOptions } from '../engine/jobOptions';
import type { DownloadResult } from '../engine/snapshot';

/** The result reported for a job that ended before the engine could produce its own (e.g. it threw). */
export function failedResult(options: JobOptions, error: { code: string; message: string }): DownloadResult {
  return {
    ok: false,
    path: options.outputPath,
    size: 0,
    pieceSize: 0,
    seconds: 0,
    bytesFetched: 0,
    bytesResumed: 0,
    sources: [],
    error,
  };
}
