/**
 * Runs one engine job in a process of its own, with optional injected file-system faults, and
 * prints its DownloadResult as the last stdout line. Used where a test measures the job's process
 * (peak RSS with a slow disk) or needs a fault the real file system cannot give it.
 *
 *   node --require tsx/cjs jobChild.ts '{"options": JobOptions, "faults": {...}}'
 *
 * faults.slowWriteMs: every part-file write waits this long first (a slow disk).
 * faults.failWritesAfterBytes: once this many bytes were written, writes fail with ENOSPC.
 */
import { DownloadJob } from '../../../src/engine/downloadJob';
import type { JobOptions } from '../../../src/engine/jobOptions';
import { PartFile } from '../../../src/engine/partFile';

interface Input {
  options: JobOptions;
  faults?: { slowWriteMs?: number; failWritesAfterBytes?: number };
}

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2] ?? '{}') as Input;
  const faults = input.faults ?? {};
  const originalWrite = PartFile.prototype.write;
  let written = 0;
  PartFile.prototype.write = async function (this: PartFile, buffers: Buffer[], position: number): Promise<void> {
    if (faults.slowWriteMs) await new Promise((resolve) => setTimeout(resolve, faults.slowWriteMs));
    const length = buffers.reduce((sum, b) => sum + b.length, 0);
    if (faults.failWritesAfterBytes !== undefined && written + length > faults.failWritesAfterBytes) {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    }
    written += length;
    return originalWrite.call(this, buffers, position);
  };
  const job = new DownloadJob(input.options);
  const result = await job.run();
  process.stdout.write(`${JSON.stringify({ ...result, events: job.eventLog() })}\n`);
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 70;
});
