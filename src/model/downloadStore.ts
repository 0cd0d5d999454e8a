import { ErrorCode } from '../engine/errors';
import type { DownloadResult, JobSnapshot } from '../engine/snapshot';
import type { ProtocolError } from '../protocol/messages';
import { activeStatuses, type DownloadRecord, type DownloadRequest, type DownloadStatus } from './downloadRecord';
import { Signal } from './signal';

/**
 * What changed about one download: `progress` (numbers moved; views may wait), `status` (a state
 * change; views refresh at once), `added` or `removed` (the list itself changed).
 */
export interface DownloadChange {
  id: string;
  kind: 'added' | 'removed' | 'status' | 'progress';
}

/** Total throughput and number of active downloads, for the status bar. */
export interface DownloadTotals {
  bytesPerSecond: number;
  active: number;
}

/**
 * The host-side single source of truth for every download the views show. It holds the latest
 * worker snapshot per job and the final results, and fires one fine-grained change per update.
 * Views read from here only; they never talk to the worker.
 */
export class DownloadStore {
  private readonly records = new Map<string, DownloadRecord>();
  private readonly changed = new Signal<DownloadChange>();

  /** Fires after every change, with the download it concerns. */
  readonly onDidChange = this.changed.event;

  /** Adds a download that is about to be sent to the worker. */
  add(id: string, request: DownloadRequest, status: DownloadStatus = 'starting'): DownloadRecord {
    if (this.records.has(id)) throw new Error(`download ${id} is already in the list`);
    const record: DownloadRecord = { id, request, status, addedAt: Date.now() };
    this.records.set(id, record);
    this.changed.fire({ id, kind: 'added' });
    return record;
  }

  /** Puts back a download saved by an earlier session (see DownloadPersistence). */
  restore(record: DownloadRecord): void {
    if (this.records.has(record.id)) return;
    this.records.set(record.id, { ...record });
    this.changed.fire({ id: record.id, kind: 'added' });
  }

  /** Marks a stopped download as being started again (resume after interruption, retry). */
  markStarting(id: string): void {
    const record = this.records.get(id);
    if (!record) return;
    record.status = 'starting';
    record.error = undefined;
    record.result = undefined;
    this.changed.fire({ id, kind: 'status' });
  }

  /** Takes the worker's latest snapshot; a state change is reported as `status`, anything else as `progress`. */
  applySnapshot(snapshot: JobSnapshot): void {
    const record = this.records.get(snapshot.jobId);
    // A snapshot can trail a result or a removal by one message; it must not resurrect the job.
    if (!record || record.result || record.status === 'interrupted') return;
    const statusChanged = record.status !== snapshot.state;
    record.snapshot = snapshot;
    record.status = snapshot.state;
    this.changed.fire({ id: record.id, kind: statusChanged ? 'status' : 'progress' });
  }

  /** Records the final result of a run. */
  applyResult(id: string, result: DownloadResult): void {
    const record = this.records.get(id);
    if (!record) return;
    record.result = result;
    record.error = result.error;
    record.status = statusOfResult(result, record.snapshot);
    this.changed.fire({ id, kind: 'status' });
  }

  /** The worker died while this download ran; its journal lets a new worker resume it. */
  markInterrupted(id: string, error: ProtocolError): void {
    const record = this.records.get(id);
    if (!record) return;
    record.status = 'interrupted';
    record.error = error;
    this.changed.fire({ id, kind: 'status' });
  }

  /** The download could not be started or was stopped without a result from the engine. */
  markEnded(id: string, status: 'failed' | 'cancelled', error: ProtocolError): void {
    const record = this.records.get(id);
    if (!record) return;
    record.status = status;
    record.error = error;
    this.changed.fire({ id, kind: 'status' });
  }

  /** Removes a download from the list (its file, if any, stays). */
  remove(id: string): boolean {
    if (!this.records.delete(id)) return false;
    this.changed.fire({ id, kind: 'removed' });
    return true;
  }

  get(id: string): DownloadRecord | undefined {
    return this.records.get(id);
  }

  /** Every download, oldest first. */
  list(): DownloadRecord[] {
    return [...this.records.values()];
  }

  /** The download still working on (or paused at) `outputPath`, if any: two jobs must not share a target. */
  unfinishedDownloadTo(outputPath: string): DownloadRecord | undefined {
    for (const record of this.records.values()) {
      if ((activeStatuses.has(record.status) || record.status === 'paused') && record.request.options.outputPath === outputPath) return record;
    }
    return undefined;
  }

  /** Sum of the current throughput of active downloads and how many there are. */
  totals(): DownloadTotals {
    let bytesPerSecond = 0;
    let active = 0;
    for (const record of this.records.values()) {
      if (!activeStatuses.has(record.status)) continue;
      active++;
      bytesPerSecond += record.snapshot?.bytesPerSecond ?? 0;
    }
    return { bytesPerSecond, active };
  }

  dispose(): void {
    this.changed.dispose();
  }
}

function statusOfResult(result: DownloadResult, last: JobSnapshot | undefined): DownloadStatus {
  if (result.ok) return 'completed';
  if (last?.state === 'cancelled' || result.error?.code === ErrorCode.Interrupted) return 'cancelled';
  return 'failed';
}
