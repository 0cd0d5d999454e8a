/**
 * `get --stream-to <path|->`: the job's verified bytes, in order, written while it downloads.
 * Standard output is never ended by us (other output may follow on a terminal); a file or FIFO is.
 */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { DownloadJob } from '../engine/downloadJob';

/** Resolves when the stream is written out; with the error when it failed (never rejects). */
export async function streamJobTo(job: DownloadJob, target: string): Promise<Error | undefined> {
  const reader = job.openStream();
  try {
    if (target === '-') await pipeline(reader, process.stdout, { end: false });
    else await pipeline(reader, createWriteStream(target));
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}
