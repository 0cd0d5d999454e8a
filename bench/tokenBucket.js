'use strict';
/* global performance, setTimeout, clearTimeout -- Node globals the repo's eslint config does not declare for .js */
/**
 * The aggregate bandwidth cap of one bench mirror: every connection takes its bytes from this one
 * bucket, FIFO, one small grant per turn, so N connections share the rate ~1/N each and the
 * stream is smooth at ~10 ms granularity. (Same algorithm as test/harness/tokenBucket.ts; the
 * bench stays plain JavaScript so it needs no build step.)
 */

/** Largest grant: 64 KiB writes keep syscalls cheap at tens of MB/s. */
const MAX_GRANT_BYTES = 64 * 1024;
/**
 * The bucket holds at most 50 ms of tokens. A mirror is a Node process sharing two cores with the
 * client and the other mirrors: when it is scheduled late, a smaller bucket overflowed and the
 * mirror served less than its cap (by about 0.5% for the 40 MB/s mirror of profile b), so the
 * bench's T_min was not what the mirrors delivered. A kernel shaper keeps its rate whatever the
 * scheduling; 50 ms of burst after an idle spell is the price of that here.
 */
const BURST_SECONDS = 0.05;
/** One grant is at most 10 ms of the rate, so connections interleave finely. */
const GRANT_SECONDS = 0.01;

class TokenBucket {
  /** @param {number} bytesPerSecond aggregate rate (> 0) */
  constructor(bytesPerSecond) {
    this.bytesPerSecond = bytesPerSecond;
    this.grantBytes = Math.max(1, Math.min(MAX_GRANT_BYTES, Math.floor(bytesPerSecond * GRANT_SECONDS)));
    this.capacity = Math.max(this.grantBytes, bytesPerSecond * BURST_SECONDS);
    this.tokens = 0;
    this.lastRefill = performance.now();
    this.waiters = [];
    this.timer = undefined;
    this.closed = false;
  }

  /** Resolves with 1..maxBytes granted bytes (0 once closed). */
  take(maxBytes) {
    if (this.closed || maxBytes <= 0) return Promise.resolve(0);
    return new Promise((resolve) => {
      this.waiters.push({ bytes: Math.min(maxBytes, this.grantBytes), resolve });
      this.pump();
    });
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    for (const waiter of this.waiters.splice(0)) waiter.resolve(0);
  }

  pump() {
    const now = performance.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.lastRefill) / 1000) * this.bytesPerSecond);
    this.lastRefill = now;
    while (this.waiters.length > 0 && this.tokens >= this.waiters[0].bytes) {
      const waiter = this.waiters.shift();
      this.tokens -= waiter.bytes;
      waiter.resolve(waiter.bytes);
    }
    if (this.timer || this.closed || this.waiters.length === 0) return;
    // Timers fire late, never early; the refill above credits the real elapsed time.
    const waitMs = Math.max(1, Math.ceil(((this.waiters[0].bytes - this.tokens) / this.bytesPerSecond) * 1000));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, waitMs);
  }
}

module.exports = { TokenBucket };
