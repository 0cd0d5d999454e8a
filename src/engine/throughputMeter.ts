/**
 * Throughput over a sliding window of fixed buckets (aria2 uses a 10 s window; we react faster
 * because segments last ~2 s). Cheap on the hot path: `add` is a couple of integer operations.
 */
export class ThroughputMeter {
  private readonly buckets: Float64Array;
  private readonly bucketMs: number;
  private head = 0;
  private headStart: number;
  private total = 0;
  private readonly createdAt: number;

  /**
   * @param windowMs length of the window over which the rate is averaged
   * @param bucketMs granularity; a smaller bucket reacts faster but costs more to roll
   */
  constructor(windowMs = 2000, bucketMs = 100, now = Date.now()) {
    this.bucketMs = bucketMs;
    this.buckets = new Float64Array(Math.max(2, Math.ceil(windowMs / bucketMs)));
    this.headStart = now - (now % bucketMs);
    this.createdAt = now;
  }

  /** Records `bytes` received now. */
  add(bytes: number, now = Date.now()): void {
    this.roll(now);
    this.buckets[this.head] += bytes;
    this.total += bytes;
  }

  /** Bytes recorded since creation. */
  get totalBytes(): number {
    return this.total;
  }

  /** Bytes per second over the window (or over the lifetime, when that is shorter). */
  rate(now = Date.now()): number {
    this.roll(now);
    let sum = 0;
    for (let i = 0; i < this.buckets.length; i++) sum += this.buckets[i];
    const windowMs = this.buckets.length * this.bucketMs;
    const lifetimeMs = Math.max(this.bucketMs, now - this.createdAt);
    // The current bucket is only partly elapsed: count the elapsed part, not the whole bucket.
    const spanMs = Math.min(windowMs - this.bucketMs + (now - this.headStart), lifetimeMs);
    return spanMs > 0 ? (sum * 1000) / spanMs : 0;
  }

  private roll(now: number): void {
    let steps = Math.floor((now - this.headStart) / this.bucketMs);
    if (steps <= 0) return;
    if (steps > this.buckets.length) steps = this.buckets.length;
    for (let i = 0; i < steps; i++) {
      this.head = (this.head + 1) % this.buckets.length;
      this.buckets[this.head] = 0;
    }
    this.headStart = now - (now % this.bucketMs);
  }
}
