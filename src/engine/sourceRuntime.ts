/**
 * What the engine knows and decides about one source during a job: its measurements, its state
 * and the reason for it, its strikes and its backoff. One object per (URL, route) pair.
 */
import type { SourceSpec } from './jobOptions';
import type { ScoreBreakdown } from './sourceRanking';
import type { SourceState } from './snapshot';
import { ThroughputMeter } from './throughputMeter';

export class SourceRuntime {
  state: SourceState = 'probing';
  reason = 'probing';
  /** URL requests go to (the probe's redirect target, reset to `spec.url` after errors). */
  effectiveUrl: string;
  readonly meter = new ThroughputMeter(2000, 100);
  /** Bytes this source delivered that were kept (verified or recorded). */
  bytes = 0;
  /** Bytes received from it, kept or not. */
  bytesReceived = 0;
  latencyMs = 0;
  strikes = 0;
  /** Pieces proven bad from this source, for the ban reason. */
  readonly corruptPieces: number[] = [];
  rank = 0;
  score = 0;
  /** What each ranking input added to `score` at the last re-rank. */
  scoreInputs?: ScoreBreakdown;
  /** Channels currently running. */
  channels = 0;
  /** Channels the scheduler wants (0 for standby). */
  targetChannels = 0;
  /** No ranged requests (answered 200 to a Range). */
  noRange = false;
  /** Consecutive failed attempts since the last byte arrived. */
  attemptsWithoutProgress = 0;
  backoffUntil = 0;
  /** First time it delivered bytes in the current active period (for grace windows). */
  activeSince = 0;
  /** First and last time it delivered bytes, for the mean rate in the report. */
  firstByteAt = 0;
  lastByteAt = 0;
  lastExploredAt = 0;
  /** Excluded because it contradicts the trusted identity (size, content), not for a fault. */
  contradictsTrust = false;
  /**
   * Nothing it delivered may be kept: banned for corrupt data, or shown to hold another file after
   * it had begun working (speculative admission). Its unchecked pieces are fetched again.
   */
  bytesDistrusted = false;
  /**
   * Working before its identity spot check answered (speculative admission): one channel, one
   * piece per request, so a source that turns out to hold another file sends at most that.
   */
  identityPending = false;
  /** Strong validator (ETag) seen by its probe. */
  validator?: string;
  size?: number;

  constructor(readonly id: number, readonly spec: SourceSpec) {
    this.effectiveUrl = spec.url;
  }

  /** May still be asked for bytes in this job (now or after its backoff). */
  get usable(): boolean {
    return this.state !== 'excluded' && this.state !== 'banned' && this.state !== 'dropped' && this.state !== 'probing';
  }

  /** Serves an encoded copy: decoded as one whole stream from byte 0 (never the reference). */
  get decodesWholeStream(): boolean {
    return this.spec.encoding !== undefined;
  }

  get priority(): number {
    return this.spec.priority ?? 0;
  }

  get cost(): number {
    return this.spec.cost ?? 0;
  }

  /**
   * Changes the state. Banned and excluded are final for the job: a failure or a retry that races
   * the ban must never bring the source back (a banned source then stays banned for its reason).
   */
  setState(state: SourceState, reason: string): void {
    if (this.state === 'banned' || (this.state === 'excluded' && state !== 'banned')) return;
    this.state = state;
    this.reason = reason;
  }

  /** Mean rate over the time it was delivering, for the final report. */
  meanBytesPerSecond(): number {
    const spanMs = this.lastByteAt - this.firstByteAt;
    return spanMs > 0 ? (this.bytesReceived * 1000) / spanMs : 0;
  }
}
