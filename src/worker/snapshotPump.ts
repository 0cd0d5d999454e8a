import type { JobSnapshot } from '../engine/snapshot';

/**
 * Coalesces job snapshots inside the worker: every tracked job is read at most once per interval
 * and posted only when it changed, so the host gets ≤ 1000/interval messages per job per second
 * however often the engine's numbers move. `sendNow` is for state changes, which must not wait.
 */
export class SnapshotPump {
  private readonly readers = new Map<string, () => JobSnapshot>();
  private readonly lastSent = new Map<string, string>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly send: (snapshot: JobSnapshot) => void,
  ) {}

  /** Starts posting snapshots of `jobId`, read through `read`. */
  track(jobId: string, read: () => JobSnapshot): void {
    this.readers.set(jobId, read);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      // A worker with only paused jobs must still be able to exit when the host goes away.
      this.timer.unref?.();
    }
  }

  /** Posts the current snapshot of `jobId` at once (if it changed since the last one). */
  sendNow(jobId: string): void {
    const read = this.readers.get(jobId);
    if (read) this.sendIfChanged(jobId, read);
  }

  /** Stops posting snapshots of `jobId`. */
  untrack(jobId: string): void {
    this.readers.delete(jobId);
    this.lastSent.delete(jobId);
    if (this.readers.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Stops the timer; nothing is posted afterwards. */
  dispose(): void {
    this.readers.clear();
    this.lastSent.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    for (const [jobId, read] of this.readers) this.sendIfChanged(jobId, read);
  }

  private sendIfChanged(jobId: string, read: () => JobSnapshot): void {
    let snapshot: JobSnapshot;
    try {
      snapshot = read();
    } catch {
      return; // A job that cannot describe itself yet (still constructing) simply skips this tick.
    }
    // The serialized form is also what postMessage would copy; comparing it skips idle (paused) jobs.
    const fingerprint = JSON.stringify(snapshot);
    if (this.lastSent.get(jobId) === fingerprint) return;
    this.lastSent.set(jobId, fingerprint);
    this.send(snapshot);
  }
}
