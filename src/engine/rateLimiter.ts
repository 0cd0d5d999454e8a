import { abortableSleep } from './abortableSleep';

/**
 * A global token bucket shared by all channels of all jobs that use it: `take` resolves when the
 * bytes may be consumed. With no limit it is a no-op on the hot path.
 */
export class RateLimiter {
  private tokens: number;
  private last = Date.now();

  constructor(private bytesPerSecond: number) {
    this.tokens = Math.min(bytesPerSecond, 256 * 1024);
  }

  get limited(): boolean {
    return this.bytesPerSecond > 0;
  }

  setLimit(bytesPerSecond: number): void {
    this.bytesPerSecond = bytesPerSecond;
  }

  /** Waits until `bytes` fit under the limit. Debt is allowed so large chunks never deadlock. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.bytesPerSecond <= 0) return;
    const now = Date.now();
    // A burst of at most 1/8 s keeps the rate smooth without starving large chunks.
    const burst = Math.max(this.bytesPerSecond / 8, 64 * 1024);
    this.tokens = Math.min(burst, this.tokens + ((now - this.last) * this.bytesPerSecond) / 1000);
    this.last = now;
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    const waitMs = (-this.tokens * 1000) / this.bytesPerSecond;
    await abortableSleep(waitMs, signal);
  }
}
