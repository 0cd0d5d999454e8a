/**
 * What a caller asks the engine for: one artifact, the places that hold it, and how to prove it.
 * Plain data only, so the same object crosses the worker boundary unchanged.
 */

import type { ExternalRankingOptions } from './ranking/externalRanking';

/** One place that holds a copy of the artifact. */
export interface SourceSpec {
  /** http(s) URL of the artifact on this source. */
  url: string;
  /** Optional route: an HTTP(S) proxy URL. The same URL over two routes counts as two sources. */
  proxy?: string;
  /**
   * Optional route: the local IP address to connect from (selects the interface or uplink). The
   * same URL from two local addresses counts as two sources, like two proxies.
   */
  localAddress?: string;
  /**
   * The source serves a compressed copy (e.g. `file.bin.gz`): it is read as one stream from byte 0
   * and decoded (see adapters/gzipSource.ts). Needs at least one plain source in the job.
   */
  encoding?: 'gzip';
  /** User priority: higher is preferred (default 0). */
  priority?: number;
  /** Relative cost of bytes from this source (default 0 = free). Cheaper sources win ties. */
  cost?: number;
  /** Location tag (e.g. an ISO country code), matched against the user's location. */
  location?: string;
  /** Where this source came from, for the report ("cli", "settings", "link-header", "metalink"). */
  origin?: string;
}

/** A trusted commitment to the artifact's content. Any subset may be given. */
export interface ExpectedIdentity {
  /** Whole-file SHA-256, hex. */
  sha256?: string;
  /** RFC 6962 Merkle root, hex; only valid together with pieceSize (and size from the manifest). */
  root?: string;
  /** Piece size the root was built with. */
  pieceSize?: number;
  /** Exact size in bytes, when known from a trusted channel. */
  size?: number;
  /** Leaf hashes (hex), already checked to hash up to `root`. */
  leaves?: string[];
  /**
   * Plain SHA-256 of each piece (hex), as Metalink (RFC 5854) gives them; checked per piece like
   * leaves. Requires `pieceSize`.
   */
  pieceSha256?: string[];
}

/** Options of one download job. */
export interface JobOptions {
  /** Sources of the same artifact; the first is the primary. */
  sources: SourceSpec[];
  /** Final path of the artifact (absolute). Nothing is written there until the file is verified. */
  outputPath: string;
  /** Folder for `.part`, journal and lock files (default: `<dir of outputPath>/.artifact-fetch`). */
  stateDir?: string;
  expected?: ExpectedIdentity;
  /** Connections per source (upper bound; the engine may use fewer on slow sources). Default 4. */
  connectionsPerSource?: number;
  /** Sources used at once; the rest are standby. Default 6. */
  maxActiveSources?: number;
  /**
   * Connections open at once for the whole job: channels, probes, identity spot checks, audits and
   * repair, idle keep-alive sockets included. Default: connectionsPerSource × maxActiveSources + 8,
   * within [16, 256] (32 with the defaults); see connectionBudget.ts.
   */
  maxConnections?: number;
  /** Piece size in bytes (power of two, >= 16 KiB); default: chosen from the size. */
  pieceSize?: number;
  /** Global speed limit in bytes per second (0 or absent = none). */
  limitBytesPerSecond?: number;
  /** A channel slower than this for the grace window is dropped (bytes/s). Default 16 KiB/s. */
  minSourceSpeed?: number;
  /** Replace an existing file at outputPath (default false: fail with E_TARGET_EXISTS). */
  overwrite?: boolean;
  /** Give up when the job has not finished after this many ms (default: none). */
  deadlineMs?: number;
  /** Per-origin request headers (e.g. Authorization), sent only to that exact origin. */
  originHeaders?: Record<string, Record<string, string>>;
  /** Extra CA certificates (PEM) to trust for TLS sources. */
  ca?: string | string[];
  /** Add mirrors from the primary's `Link: rel=duplicate` headers (default true). */
  useLinkHeaderMirrors?: boolean;
  /** User location for ranking (matched against source.location). */
  location?: string;
  /** Ranking weights (see sourceRanking.ts); missing ones take defaults. */
  rankingWeights?: Partial<RankingWeights>;
  /**
   * At most this share (0..1) of the artifact's bytes comes from sources with cost > 0 while a
   * free source is usable (default 1 = no cap).
   */
  maxExpensiveShare?: number;
  /** An external ranking service (a command or a URL) whose scores are one more ranking input. */
  externalRanking?: ExternalRankingOptions;
}

/** How much each ranking input counts. */
export interface RankingWeights {
  throughput: number;
  latency: number;
  errors: number;
  priority: number;
  cost: number;
  location: number;
  /** The external ranking service's score (counts only once it answered). */
  external: number;
}
