/** The timer functions the scheduler uses; tests pass fakes. */
export interface SchedulerClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemClock: SchedulerClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Sentinel key: refresh everything (the list itself changed). */
export const REFRESH_ALL = Symbol('refresh all');

/**
 * Gathers refresh requests and flushes them at most once per `minGapMs`, except urgent ones
 * (state changes), which flush at once together with anything pending.
 *
 * Why: VS Code debounces `onDidChangeTreeData` with a 200 ms timer that restarts on every event,
 * so a tree refreshed every 100 ms shows its first state and then freezes until the events stop.
 * Gaps of ~300 ms keep every refresh a "leading" one.
 */
export class RefreshScheduler<K> {
  private pending = new Set<K>();
  private pendingAll = false;
  private timer: unknown;
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  private disposed = false;

  constructor(
    private readonly minGapMs: number,
    private readonly flush: (keys: ReadonlySet<K> | typeof REFRESH_ALL) => void,
    private readonly clock: SchedulerClock = systemClock,
  ) {}

  /** Asks for `key` (or everything) to be refreshed; `urgent` skips the wait. */
  request(key: K | typeof REFRESH_ALL, urgent = false): void {
    if (this.disposed) return;
    if (key === REFRESH_ALL) this.pendingAll = true;
    else this.pending.add(key);
    if (urgent) {
      this.flushNow();
      return;
    }
    if (this.timer !== undefined) return;
    const wait = this.lastFlushAt + this.minGapMs - this.clock.now();
    if (wait <= 0) this.flushNow();
    else this.timer = this.clock.setTimeout(() => this.flushNow(), wait);
  }

  /** Drops pending work; nothing flushes afterwards. */
  dispose(): void {
    this.disposed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private flushNow(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const keys: ReadonlySet<K> | typeof REFRESH_ALL = this.pendingAll ? REFRESH_ALL : this.pending;
    this.pending = new Set();
    this.pendingAll = false;
    this.lastFlushAt = this.clock.now();
    this.flush(keys);
  }
}
