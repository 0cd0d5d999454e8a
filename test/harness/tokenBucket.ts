/**
 * A token bucket shared by every connection that should split one bandwidth cap between them.
 * Takers queue FIFO and each receives at most one small grant per turn, so N concurrent
 * connections get ~1/N of the rate each, and the stream stays smooth at ~10 ms granularity
 * (the bucket never stores more than 10 ms of tokens, so there are no bursts after idling).
 */

/** Largest grant: one 64 KiB write keeps syscalls cheap at tens of MB/s. */
const MAX_GRANT_BYTES = 64 * 1024;
/** The bucket holds at most this much time's worth of tokens. */
const BURST_SECONDS = 0.01;

interface Waiter {
  bytes: number;
  resolve: (granted: number) => void;
}

export class TokenBucket {
  private tokens = 0;
  private lastRefill = performance.now();
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  /** @param bytesPerSecond the aggregate rate shared by all takers (> 0). */
  constructor(private bytesPerSecond: number) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be > 0, got ${bytesPerSecond}`);
  }

  /** Bytes one taker may write per turn. */
  get grantBytes(): number {
    return Math.max(1, Math.min(MAX_GRANT_BYTES, Math.floor(this.bytesPerSecond * BURST_SECONDS)));
  }

  /** Changes the rate; queued takers continue at the new rate. */
  setRate(bytesPerSecond: number): void {
    if (!(bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be > 0, got ${bytesPerSecond}`);
    this.refill();
    this.bytesPerSecond = bytesPerSecond;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pump();
  }

  /**
   * Resolves with a grant of 1..maxBytes bytes once the bucket holds it (0 after `close()`).
   * The caller writes exactly the granted bytes, then asks again.
   */
  take(maxBytes: number): Promise<number> {
    if (this.closed || maxBytes <= 0) return Promise.resolve(0);
    return new Promise((resolve) => {
      this.waiters.push({ bytes: Math.min(maxBytes, this.grantBytes), resolve });
      this.pump();
    });
  }

  /** Releases every waiter with a grant of 0 and stops the timer. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const waiter of this.waiters.splice(0)) waiter.resolve(0);
  }

  private refill(): void {
    const now = performance.now();
    const capacity = Math.max(this.grantBytes, this.bytesPerSecond * BURST_SECONDS);
    this.tokens = Math.min(capacity, this.tokens + ((now - this.lastRefill) / 1000) * this.bytesPerSecond);
    this.lastRefill = now;
  }

  private pump(): void {
    this.refill();
    while (this.waiters.length > 0 && this.tokens >= this.waiters[0].bytes) {
      const waiter = this.waiters.shift()!;
      this.tokens -= waiter.bytes;
      waiter.resolve(waiter.bytes);
    }
    this.reschedule();
  }

  private reschedule(): void {
    if (this.timer || this.closed || this.waiters.length === 0) return;
    // Timers fire late, never early; refill() credits the real elapsed time, so lateness costs no rate.
    const waitMs = Math.max(1, Math.ceil(((this.waiters[0].bytes - this.tokens) / this.bytesPerSecond) * 1000));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, waitMs);
    this.timer.unref();
  }
}
