import type { ScoreBreakdown } from './sourceRanking';

/**
 * The engine's observable state, cheap to build ten times a second and plain enough to post
 * from the worker to the extension host. Views render these; nothing else crosses over.
 */

export type JobState = 'probing' | 'downloading' | 'verifying' | 'repairing' | 'paused' | 'completed' | 'failed' | 'cancelled';

export type SourceState = 'probing' | 'active' | 'standby' | 'slow' | 'waiting' | 'dropped' | 'excluded' | 'banned';

export interface SourceSnapshot {
  id: number;
  /** URL with userinfo and query removed. */
  url: string;
  /** Route (proxy) with credentials removed, if any. */
  route?: string;
  /** Local address the source's sockets bind to, if its route names one. */
  localAddress?: string;
  /** 'gzip' for a source read as one compressed stream and decoded. */
  encoding?: 'gzip';
  state: SourceState;
  /** Why it is in that state ("fastest: 38.2 MB/s", "dropped: silent for 5 s", ...). */
  reason: string;
  /** 1 = best; 0 = unranked (excluded or banned). */
  rank: number;
  score: number;
  /** The score split into its inputs (throughput, latency, errors, priority, cost, location, external). */
  scoreInputs?: ScoreBreakdown;
  /** For a source with cost > 0 under a cap: the most of the bytes (0..1) expensive sources may carry. */
  expensiveShareCap?: number;
  bytes: number;
  /** Smoothed current throughput (bytes/s). */
  bytesPerSecond: number;
  /** Time to first byte of the probe, ms. */
  latencyMs: number;
  strikes: number;
  connections: number;
  /** Share of the bytes kept so far (verified or recorded), 0..1. */
  share: number;
  priority: number;
  cost: number;
  location?: string;
  origin?: string;
}

export interface SegmentSnapshot {
  id: number;
  sourceId: number;
  start: number;
  /** Exclusive end. */
  end: number;
  /** Next byte to be received. */
  cursor: number;
  /** True for an endgame duplicate racing another channel. */
  racing: boolean;
}

export interface JobSnapshot {
  jobId: string;
  name: string;
  outputPath: string;
  state: JobState;
  size: number;
  pieceSize: number;
  pieceCount: number;
  piecesVerified: number;
  /** Piece states as a string: '0' missing, '1' in flight, '2' done. Kept short by the caller's choice. */
  pieceMap?: string;
  bytesDone: number;
  bytesPerSecond: number;
  etaSeconds?: number;
  startedAt: number;
  sources: SourceSnapshot[];
  segments: SegmentSnapshot[];
  /** The current allocation pattern (source ids, repeating). */
  pattern: number[];
  /** How the result was proven: 'sha256', 'merkle', 'consistency' (sources agreed) or none yet. */
  verifiedBy?: 'sha256' | 'merkle' | 'pieces' | 'consistency';
  error?: { code: string; message: string };
}

/** A line for the "why" log: a promotion, demotion, drop, ban, or other decision. */
export interface JobEvent {
  at: number;
  sourceId?: number;
  kind: 'probe' | 'excluded' | 'promoted' | 'demoted' | 'dropped' | 'banned' | 'stolen' | 'endgame' | 'retry' | 'repair' | 'info';
  message: string;
}

/** The final outcome of a job. */
export interface DownloadResult {
  ok: boolean;
  path: string;
  size: number;
  sha256?: string;
  /** RFC 6962 root over `pieceSize` pieces, hex. */
  root?: string;
  pieceSize: number;
  seconds: number;
  verifiedBy?: 'sha256' | 'merkle' | 'pieces' | 'consistency';
  /** Bytes received from the network in this run (including discarded ones). */
  bytesFetched: number;
  /** Bytes reused from a previous run's verified pieces. */
  bytesResumed: number;
  /** What a repair did, when the whole-file hash first failed and only bad pieces were replaced. */
  repair?: { piecesReplaced: number; bytesFetched: number; culprits: string[] };
  sources: Array<{
    url: string;
    state: SourceState;
    bytes: number;
    meanBytesPerSecond: number;
    latencyMs: number;
    strikes: number;
    reason: string;
  }>;
  error?: { code: string; message: string };
}
