/**
 * One artifact fetched from many sources at once. The job probes every source, admits those that
 * hold the same bytes as the reference (the primary), ranks them, and runs channels that take
 * segments from the planner; a scheduler tick re-measures, re-ranks, recomputes the allocation
 * pattern, drops stalled or slow channels and explores standby sources. Every piece is hashed as
 * it is committed; the file is published atomically only after it checked out.
 */
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { promises as fs } from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';
import { abortableSleep } from './abortableSleep';
import { probeEncodedSource } from './adapters/gzipSource';
import { AllocationPattern } from './allocationPattern';
import { channelAllowance, defaultConnectionCap } from './connectionBudget';
import { ErrorCode, FetchError, toFetchError } from './errors';
import { sha256FromHeaders } from './headers/digestHeaders';
import { parseLinkMirrors } from './headers/linkMirrors';
import { discardBody, HttpTransport, TransportError } from './httpTransport';
import { choosePieceSize, validatePieceSize } from './integrity/pieceLayout';
import { merkleRoot } from './integrity/merkleTree';
import type { JobOptions, SourceSpec } from './jobOptions';
import { loadJournal, saveJournal, type JournalIdentity } from './journal';
import { PartFile } from './partFile';
import { PieceStore, type PieceOutcome } from './pieceStore';
import { PrefixHasher } from './prefixHasher';
import { repairFromSources, type RepairReport } from './pieceRepair';
import { LIGHT_AUDITS, PieceAuditor, THOROUGH_AUDITS } from './pieceAudit';
import { RateLimiter } from './rateLimiter';
import { ReceiveBuffers } from './receiveBuffers';
import { MAX_ATTEMPTS_WITHOUT_PROGRESS, retryDelay } from './retryPolicy';
import { redactText, redactUrl, registerSecret } from './security/redaction';
import { fetchSegment, PlannerConflict, type OpenedBody, type SegmentSink } from './segmentFetcher';
import { SegmentPlanner, type RateModel, type Segment } from './segmentPlanner';
import type { DownloadResult, JobEvent, JobSnapshot, JobState, SegmentSnapshot, SourceSnapshot } from './snapshot';
import { fetchBlock, probeSource, type ProbeResult } from './sourceProbe';
import { capExpensiveWeights, expensiveBytesLeft, fitSegmentToBudget, isExpensive } from './ranking/expensiveShare';
import { fetchExternalScores } from './ranking/externalRanking';
import { DEFAULT_RANKING_WEIGHTS, scoreBreakdown } from './sourceRanking';
import { SourceRuntime } from './sourceRuntime';
import { isFtpUrl, TransportByScheme } from './sourceTransport';
import { TargetLock } from './targetLock';
import { writeStateFile } from './stateFile';
import { ThroughputMeter } from './throughputMeter';
import type { VerifiedStream } from './stream/verifiedStream';
import { VerifiedStreams } from './stream/verifiedStreams';

/** Scheduler tick. */
const TICK_MS = 200;
/** Probes in flight at once. */
const MAX_PARALLEL_PROBES = 8;
/** How long other sources wait for the primary's probe before one of them leads instead. */
const PRIMARY_GRACE_MS = 1500;
/** How often the pattern and ranking are recomputed. */
const REPLAN_MS = 1000;
/** A segment should last about this long on its channel (fast sources get large segments). */
const SEGMENT_SECONDS = 1;
const MAX_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Bytes the primary's probe asks for, read on as the reference's first segment (see leadBytesFor). */
const LEAD_BYTES = 4 * 1024 * 1024;
/** First segment of a source before it is measured. */
const UNMEASURED_SEGMENT_BYTES = 512 * 1024;
/** A channel that receives nothing for this long is dropped and its remainder continues elsewhere. */
const STALL_MS = 5000;
/** A source gets this long to show its speed before the minimum-speed rule applies. */
const SLOW_GRACE_MS = 3000;
/** How long a dropped-for-slowness source waits before it may be explored again. */
const SLOW_BACKOFF_MS = 15_000;
const EXPLORE_EVERY_MS = 4000;
const JOURNAL_EVERY_MS = 1000;
/** Jobs that run longer than this warm the Merkle-root code up while downloading (see tick). */
const MERKLE_WARM_UP_AFTER_MS = 2000;
const PLACEHOLDER_LEAF = Buffer.alloc(32);
/** Strikes after which a source is banned when corruption cannot be pinned on it alone. */
const MAX_STRIKES = 3;

/**
 * One artifact fetched from many sources. Events: 'event' (JobEvent: a decision worth logging),
 * 'state' (JobState changed). `run()` never rejects: a failure resolves with ok=false and an error.
 */
export class DownloadJob extends EventEmitter {
  readonly id: string;
  /** Ordered, verified bytes for other programs while the job runs (see src/engine/stream). */
  readonly streams: VerifiedStreams;
  private state: JobState = 'probing';
  private readonly sources: SourceRuntime[];
  private readonly transport: TransportByScheme;
  private readonly limiter: RateLimiter;
  /** The slots sockets read into; the segment writers hand them back (receiveBuffers.ts). */
  private readonly receiveBuffers = new ReceiveBuffers();
  private readonly pattern = new AllocationPattern();
  private readonly connectionsPerSource: number;
  private readonly maxActiveSources: number;
  /** Channels of all sources at once: the connection cap minus room for probes and checks. */
  private readonly channelLimit: number;
  private readonly minSourceSpeed: number;
  private readonly startedAt = Date.now();
  private readonly stateDir: string;
  private readonly partPath: string;
  private readonly journalPath: string;
  private readonly lockPath: string;
  private readonly manifestPath: string;
  private readonly events: JobEvent[] = [];

  private size = -1;
  private pieceSize = 0;
  private pieces?: PieceStore;
  private planner?: SegmentPlanner;
  private partFile?: PartFile;
  private prefixHasher?: PrefixHasher;
  private auditor?: PieceAuditor;
  private bytesAudited = 0;
  private lock?: TargetLock;
  private reference?: SourceRuntime;
  private referenceProbe?: ProbeResult;
  private referenceReady!: Promise<void>;
  private markReferenceReady!: () => void;
  /** The reference's block at spotRange, fetched once for every spot check (undefined: none possible). */
  private spotCheck?: Promise<Buffer | undefined>;
  /** Where the spot check looks (set with spotCheck; undefined when there is no spot check). */
  private spotRange?: { offset: number; length: number };
  private headerSha256?: string;

  private readonly controller = new AbortController();
  private readonly segmentRuns = new Map<number, Promise<void>>();
  private readonly channelLoops = new Set<Promise<void>>();
  private wakers: Array<() => void> = [];
  private tickTimer?: NodeJS.Timeout;
  private deadlineTimer?: NodeJS.Timeout;
  private lastReplanAt = 0;
  /** Set when a source stopped or started working: the pattern is recomputed at the next tick. */
  private replanSoon = false;
  private lastExploreAt = 0;
  private lastJournalAt = 0;
  private journalDirty = false;
  private earlySyncStarted = false;
  private merkleWarmed = false;
  private journalSaving?: Promise<void>;
  private paused = false;
  private cancelled = false;
  private discard = false;
  private fatal?: FetchError;
  private settle!: () => void;
  private readonly finished: Promise<void>;
  private bytesFetched = 0;
  private bytesResumed = 0;
  private readonly totalMeter = new ThroughputMeter(3000, 100);
  private verifiedBy?: DownloadResult['verifiedBy'];
  private error?: FetchError;

  constructor(readonly options: JobOptions, id?: string) {
    super();
    this.id = id ?? randomBytes(4).toString('hex');
    this.connectionsPerSource = clampInt(options.connectionsPerSource ?? 4, 1, 16);
    this.maxActiveSources = clampInt(options.maxActiveSources ?? 6, 1, 64);
    this.minSourceSpeed = options.minSourceSpeed ?? 16 * 1024;
    this.limiter = new RateLimiter(options.limitBytesPerSecond ?? 0);
    for (const headers of Object.values(options.originHeaders ?? {})) {
      for (const value of Object.values(headers)) registerSecret(value);
    }
    // One socket per channel at most, and one job-wide cap on sockets: every request (channels,
    // probes, spot checks, audits) borrows a counted keep-alive connection (connectionBudget.ts).
    const maxConnections = clampInt(options.maxConnections ?? defaultConnectionCap(this.connectionsPerSource, this.maxActiveSources), 1, 1024);
    this.channelLimit = channelAllowance(maxConnections);
    this.transport = new TransportByScheme(
      new HttpTransport({ ca: options.ca, originHeaders: options.originHeaders, connectionsPerOrigin: this.connectionsPerSource, maxConnections, receiveBuffers: this.receiveBuffers }),
      // Loaded on the first FTP source only: its client library is not worth the start-up otherwise.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      () => new (require('./ftp/ftpTransport') as typeof import('./ftp/ftpTransport')).FtpTransport({ ca: options.ca, onNotice: (message) => this.log('info', message) }),
    );
    this.sources = options.sources.map((spec, index) => new SourceRuntime(index, spec));
    const outputPath = path.resolve(options.outputPath ?? '.');
    this.stateDir = path.resolve(options.stateDir ?? path.join(path.dirname(outputPath), '.artifact-fetch'));
    const base = path.basename(outputPath);
    this.partPath = path.join(this.stateDir, `${base}.part`);
    this.journalPath = path.join(this.stateDir, `${base}.journal.json`);
    this.lockPath = path.join(this.stateDir, `${base}.lock`);
    this.manifestPath = path.join(this.stateDir, `${base}.manifest.json`);
    this.streams = new VerifiedStreams(outputPath);
    this.referenceReady = new Promise((resolve) => { this.markReferenceReady = resolve; });
    this.finished = new Promise((resolve) => { this.settle = resolve; });
  }

  // ---------------------------------------------------------------- public control

  /** How the socket read slots were used so far: taken again from the free list, and allocated. */
  get receiveBufferUse(): { reused: number; allocated: number } {
    return { reused: this.receiveBuffers.reused, allocated: this.receiveBuffers.allocated };
  }

  /** Runs the job to its end. Never rejects. */
  async run(): Promise<DownloadResult> {
    try {
      this.validateOptions();
      await this.prepareTarget();
      this.checkFatal(); // cancelled before it started: nothing to fetch, only clean-up to do
      if (this.options.deadlineMs) {
        // Armed here, not in the tick: the deadline also holds while no source has answered yet.
        this.deadlineTimer = setTimeout(() => {
          this.fail(new FetchError(ErrorCode.Timeout, `the job did not finish within ${Math.round(this.options.deadlineMs! / 1000)} s`));
        }, this.options.deadlineMs);
      }
      this.tickTimer = setInterval(() => this.tick(), TICK_MS);
      this.askExternalRanking();
      for (const source of this.sources) void this.admit(source);
      // After the probes' requests went out: their answers take a round trip at least.
      setImmediate(() => this.startLocalWork());
      await Promise.race([this.referenceReady, this.finished]);
      this.checkFatal();
      if (!this.pieces!.complete) {
        this.setState(this.paused ? 'paused' : 'downloading');
        this.ensureChannels();
        await this.finished;
      }
      this.checkFatal();
      await this.stopChannels();
      await this.verifyAndPublish();
      this.setState('completed');
    } catch (error) {
      this.error = toFetchError(error);
      if (this.cancelled) this.error = new FetchError(ErrorCode.Interrupted, this.discard ? 'cancelled; partial data discarded' : 'cancelled; resumable state kept');
      // Pieces that add up to the wrong file are not worth resuming from.
      if (this.error.code === ErrorCode.VerificationFailed) this.discard = true;
      await this.stopChannels();
      this.setState(this.cancelled ? 'cancelled' : 'failed');
    } finally {
      await this.cleanUp();
    }
    this.streams.finish(this.state === 'completed' ? undefined : this.error);
    return this.result();
  }

  /**
   * The file's bytes [start, end) (end exclusive, default the file end) in order, each only after
   * its piece is verified, read back from the .part file; blocks while they are not, and the
   * pieces just ahead of a blocked reader are fetched first. Several readers may be open at once;
   * each ends when its range is out (or errors when the job fails). See VerifiedStream for what
   * "verified" means with only a whole-file hash.
   */
  openStream(start = 0, end?: number): VerifiedStream {
    return this.streams.open(start, end);
  }

  /** Stops fetching and keeps everything for resume(). */
  pause(): void {
    if (this.paused || this.isOver()) return;
    this.paused = true;
    for (const segment of this.planner?.active.values() ?? []) this.abortSegment(segment, 'paused');
    // A paused source delivers nothing: after resume() it gets a fresh grace window before the
    // minimum-speed rule may bench it (its meter still shows the silence of the pause).
    for (const source of this.sources) source.activeSince = 0;
    this.setState('paused');
    this.journalDirty = true;
  }

  resume(): void {
    if (!this.paused || this.isOver()) return;
    this.paused = false;
    this.setState(this.reference ? 'downloading' : 'probing');
    this.ensureChannels();
  }

  /** Stops the job; with discard=true the .part and journal are deleted, else kept for resume. */
  cancel(discard = false): void {
    if (this.isOver()) return;
    this.cancelled = true;
    this.discard = discard;
    this.fail(new FetchError(ErrorCode.Interrupted, 'cancelled'));
  }

  /** A consistent picture of the job, cheap enough for ten calls a second. */
  snapshot(includePieceMap = false): JobSnapshot {
    const now = Date.now();
    // Kept bytes, not received ones: a banned source's discarded pieces are not its contribution.
    const kept = this.sources.reduce((sum, s) => sum + s.bytes, 0);
    const sources: SourceSnapshot[] = this.sources.map((s) => ({
      id: s.id,
      url: redactUrl(s.spec.url),
      route: s.spec.proxy ? redactUrl(s.spec.proxy) : undefined,
      localAddress: s.spec.localAddress,
      encoding: s.spec.encoding,
      state: s.state,
      reason: redactText(s.reason),
      rank: s.rank,
      score: round3(s.score),
      scoreInputs: s.scoreInputs,
      expensiveShareCap: isExpensive(s) && this.expensiveShare < 1 ? this.expensiveShare : undefined,
      bytes: s.bytes,
      bytesPerSecond: Math.round(s.meter.rate(now)),
      latencyMs: s.latencyMs,
      strikes: s.strikes,
      connections: s.channels,
      share: kept > 0 ? round3(s.bytes / kept) : 0,
      priority: s.priority,
      cost: s.cost,
      location: s.spec.location,
      origin: s.spec.origin,
    }));
    const segments: SegmentSnapshot[] = [...(this.planner?.active.values() ?? [])].map((seg) => ({
      id: seg.id,
      sourceId: seg.sourceId,
      start: seg.start,
      end: seg.end,
      cursor: seg.received,
      racing: seg.racing,
    }));
    const rate = this.totalMeter.rate(now);
    const left = this.size >= 0 && this.pieces ? this.size - this.pieces.bytesDone : undefined;
    return {
      jobId: this.id,
      name: path.basename(this.options.outputPath),
      outputPath: this.options.outputPath,
      state: this.state,
      size: Math.max(0, this.size),
      pieceSize: this.pieceSize,
      pieceCount: this.pieces?.count ?? 0,
      piecesVerified: this.pieces?.doneCount ?? 0,
      pieceMap: includePieceMap ? this.pieces?.stateString() : undefined,
      bytesDone: this.pieces?.bytesDone ?? 0,
      bytesPerSecond: Math.round(rate),
      etaSeconds: left !== undefined && rate > 0 ? Math.ceil(left / rate) : undefined,
      startedAt: this.startedAt,
      sources,
      segments,
      pattern: [...this.pattern.round],
      verifiedBy: this.verifiedBy,
      error: this.error ? { code: this.error.code, message: this.error.message } : undefined,
    };
  }

  /** The decisions logged so far (promotions, drops, bans, retries). */
  eventLog(): readonly JobEvent[] {
    return this.events;
  }

  // ---------------------------------------------------------------- setup

  private validateOptions(): void {
    const { sources, outputPath, expected } = this.options;
    if (!sources || sources.length === 0) throw new FetchError(ErrorCode.BadArguments, 'no source URL given');
    for (const source of sources) {
      let url: URL;
      try {
        url = new URL(source.url);
      } catch {
        throw new FetchError(ErrorCode.BadArguments, `not a valid URL: ${redactUrl(String(source.url))}`);
      }
      if (!['http:', 'https:', 'ftp:', 'ftps:'].includes(url.protocol)) {
        throw new FetchError(ErrorCode.BadArguments, `unsupported URL scheme ${url.protocol} in ${redactUrl(source.url)} (http, https, ftp and ftps are supported)`);
      }
      if (source.proxy && isFtpUrl(source.url)) {
        throw new FetchError(ErrorCode.BadArguments, `${redactUrl(source.url)}: FTP sources cannot go through an HTTP proxy route`);
      }
      if (source.proxy) {
        try {
          new URL(source.proxy);
        } catch {
          throw new FetchError(ErrorCode.BadArguments, `not a valid proxy URL for ${redactUrl(source.url)}`);
        }
      }
      if (source.encoding !== undefined && source.encoding !== 'gzip') {
        throw new FetchError(ErrorCode.BadArguments, `unsupported source encoding "${String(source.encoding).slice(0, 20)}" for ${redactUrl(source.url)} (gzip is supported)`);
      }
      if (source.localAddress !== undefined && isIP(source.localAddress) === 0) {
        throw new FetchError(ErrorCode.BadArguments, `the local address for ${redactUrl(source.url)} must be an IP address, got "${String(source.localAddress).slice(0, 60)}"`);
      }
    }
    if (sources.every((s) => s.encoding !== undefined)) {
      throw new FetchError(ErrorCode.BadArguments, 'a gzip source cannot state the plain file size: give at least one plain source too');
    }
    if (!outputPath || !path.isAbsolute(outputPath)) throw new FetchError(ErrorCode.BadArguments, 'the output path must be absolute');
    if (expected?.sha256 !== undefined && !/^[0-9a-f]{64}$/i.test(expected.sha256)) {
      throw new FetchError(ErrorCode.BadArguments, 'the expected SHA-256 must be 64 hex digits');
    }
    if (expected?.root !== undefined) {
      if (!/^[0-9a-f]{64}$/i.test(expected.root)) throw new FetchError(ErrorCode.BadArguments, 'the expected Merkle root must be 64 hex digits');
      if (expected.pieceSize === undefined) throw new FetchError(ErrorCode.BadArguments, 'a Merkle root needs the piece size it was built with');
    }
    if (expected?.pieceSize !== undefined) validatePieceSize(expected.pieceSize);
    if (this.options.pieceSize !== undefined) validatePieceSize(this.options.pieceSize);
    const share = this.options.maxExpensiveShare;
    if (share !== undefined && !(share >= 0 && share <= 1)) throw new FetchError(ErrorCode.BadArguments, 'the expensive share must be between 0 and 1');
  }

  private async prepareTarget(): Promise<void> {
    const outputPath = this.options.outputPath;
    const existing = await fs.lstat(outputPath).catch(() => undefined);
    if (existing && !this.options.overwrite) {
      throw new FetchError(ErrorCode.TargetExists, `${outputPath} already exists; it was left untouched (allow replacing it to overwrite)`);
    }
    if (existing && (existing.isSymbolicLink() || !existing.isFile())) {
      throw new FetchError(ErrorCode.UnsafePath, `${outputPath} is not a regular file; refusing to replace it`);
    }
    const parent = await fs.stat(path.dirname(outputPath)).catch(() => undefined);
    if (!parent?.isDirectory()) throw new FetchError(ErrorCode.Disk, `the folder ${path.dirname(outputPath)} does not exist`);
    // Non-recursive when the parent exists: a recursive mkdir reports a read-only folder as ENOENT.
    const stateParentExists = await fs.stat(path.dirname(this.stateDir)).then((st) => st.isDirectory(), () => false);
    await fs.mkdir(this.stateDir, { recursive: !stateParentExists }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw toFetchError(error, ErrorCode.Disk);
    });
    const stateStat = await fs.lstat(this.stateDir);
    if (!stateStat.isDirectory()) throw new FetchError(ErrorCode.UnsafePath, `state folder ${this.stateDir} is not a real folder`);
    this.lock = await TargetLock.acquire(this.lockPath, outputPath);
    this.journalFound = await fs.lstat(this.journalPath).then(() => true, () => false);
  }

  /** A journal was there when the job started: it may resume, so the probes stay small. */
  private journalFound = false;

  /**
   * A fresh job's part file, created while the probes are in flight (undefined when a file was
   * already there: initLayout then decides about it, as after a crash without a journal).
   */
  private earlyPart?: Promise<PartFile | undefined>;

  /**
   * The local work that needs no size starts while the probes are in flight instead of after
   * them: a fresh job creates its part file (~12 ms of start-up on this machine, otherwise between
   * the primary's answer and the first channels). The hashing thread needs the size: it starts in
   * initLayout, for a file big enough to want one (prefixHasher.ts).
   */
  private startLocalWork(): void {
    if (this.isOver() || this.pieces || this.journalFound) return;
    this.earlyPart = fs.lstat(this.partPath).then(() => undefined, () => PartFile.create(this.partPath));
    // A failure surfaces in initLayout; a job that never gets there removes the file (cleanUp).
    this.earlyPart.catch(() => undefined);
  }

  // ---------------------------------------------------------------- probing and identity

  /** Probes one source and admits it once it is shown to hold the reference's bytes. */
  private async admit(source: SourceRuntime): Promise<void> {
    let probe: ProbeResult | undefined;
    for (let attempt = 1; !probe; attempt++) {
      try {
        probe = await this.withProbeSlot(() =>
          source.decodesWholeStream
            ? probeEncodedSource(this.transport, source, this.controller.signal)
            // A retry asks for the sample only: the lead is an optimization, never a reason to fail.
            : probeSource(this.transport, source, this.controller.signal, () => this.sizeForUnstated(source), attempt === 1 ? this.leadBytesFor(source) : undefined),
        );
      } catch (error) {
        if (this.isOver()) return;
        const failure = error instanceof TransportError ? error : new TransportError('transient', String(error));
        // Another source may lead while the primary is retried.
        if (source.id === 0) this.notePrimaryFailed();
        if (failure.kind === 'transient' && attempt < MAX_ATTEMPTS_WITHOUT_PROGRESS) {
          const delay = retryDelay(attempt, failure.retryAfterMs, this.msLeft());
          source.setState('probing', `probe failed: ${failure.message}; retrying in ${(delay / 1000).toFixed(1)} s`);
          this.log('retry', source.reason, source);
          this.wake();
          await sleep(delay, this.controller.signal);
          if (this.isOver()) return;
          continue;
        }
        this.exclude(source, `probe failed: ${failure.message}`);
        this.maybeElectReference();
        return;
      }
    }
    try {
      await this.admitProbed(source, probe);
    } finally {
      // A lead the reference did not adopt is dropped (its socket with it).
      if (probe.lead) discardBody(probe.lead.body);
      probe.lead = undefined;
    }
  }

  /** The rest of admit(), once `source` answered its probe. */
  private async admitProbed(source: SourceRuntime, probe: ProbeResult): Promise<void> {
    if (this.isOver()) return;
    if (source.decodesWholeStream) {
      // An encoded copy states no plain size and cannot fix the layout: it waits for the reference
      // and is held to its size (the decoder never yields more; fewer bytes fail the stream).
      if (source.id === 0) this.notePrimaryFailed();
      await Promise.race([this.referenceReady, this.finished]);
      if (this.isOver() || !this.reference) return;
      probe = { ...probe, size: this.size };
    }
    source.latencyMs = probe.latencyMs;
    source.size = probe.size;
    source.validator = probe.strongEtag;
    source.noRange = !probe.acceptsRanges;
    if (probe.finalUrl !== source.spec.url) source.effectiveUrl = probe.finalUrl;
    this.log('probe', `${probe.size} bytes, ${probe.acceptsRanges ? 'ranges' : 'no ranges'}, ${probe.latencyMs} ms to first byte`, source);

    const trustedSize = this.options.expected?.size;
    if (trustedSize !== undefined && probe.size !== trustedSize) {
      source.contradictsTrust = true;
      this.exclude(source, `size ${probe.size} differs from the trusted size ${trustedSize}`);
      if (source.id === 0) this.notePrimaryFailed();
      this.maybeElectReference();
      return;
    }
    // The primary leads; if its probe fails, the first healthy source leads instead.
    while (!this.reference && !this.isOver()) {
      if (source.id === 0 || this.primaryProbeFailed) {
        await this.becomeReference(source, probe);
        return;
      }
      await Promise.race([this.referenceReady, this.finished, this.primaryFailed, sleep(PRIMARY_GRACE_MS, this.controller.signal)]);
      if (!this.reference && !this.isOver() && this.sources[0].state === 'probing') {
        // The primary is slow to answer (a trickle): a healthy source leads; the primary joins later.
        this.log('info', `the primary has not answered its probe within ${PRIMARY_GRACE_MS / 1000} s: another source leads`);
        this.notePrimaryFailed();
      }
    }
    // The reference is chosen before its layout exists: work (and the spot block) only after it.
    await Promise.race([this.referenceReady, this.finished]);
    if (this.isOver() || !this.reference) return;
    const early = this.probeMismatch(source, probe);
    if (early) {
      this.exclude(source, early);
      return;
    }
    if (this.admitsSpeculatively(probe)) {
      // It works while its spot check runs: a trusted hash guards the file whatever it sends, and
      // a failed check takes back everything it delivered (see rejectAfterJoin).
      source.identityPending = true;
      // Its block is asked for before its trial piece, so it does not queue behind the piece.
      const checking = this.spotCheckMismatch(source);
      this.join(source);
      const mismatch = await checking;
      source.identityPending = false;
      if (this.isOver()) return;
      if (mismatch) {
        this.rejectAfterJoin(source, mismatch);
        return;
      }
      // Shown to hold the same file: all its channels now.
      if (source.state === 'active') source.targetChannels = source.noRange ? 1 : this.channelsFor(source);
      this.ensureChannels();
      this.wake();
      return;
    }
    const mismatch = await this.spotCheckMismatch(source);
    if (this.isOver()) return;
    if (mismatch) {
      this.exclude(source, mismatch);
      return;
    }
    this.join(source);
  }

  /**
   * A source may start working before its identity spot check answered when a trusted hash (a
   * SHA-256, a root, leaves or piece hashes the user gave) guards the file anyway: it saves one
   * round trip to the source before its first byte. Until the check answers it has one channel
   * and one piece per request, so a source with another file sends at most one piece. Without a
   * trusted hash, the spot check is the only evidence it holds the same file, so it comes first.
   */
  private admitsSpeculatively(probe: ProbeResult): boolean {
    const expected = this.options.expected ?? {};
    const trusted = Boolean(expected.sha256 || expected.root || expected.leaves || expected.pieceSha256);
    return trusted && probe.acceptsRanges;
  }

  /**
   * How much the primary's probe asks for: its response goes on as the reference's first segment
   * (see adoptLead), so the reference's first bytes need no second round trip. Only for a fresh
   * HTTP(S) download: after a resume its first pieces may be done, and an FTP probe stays small.
   */
  private leadBytesFor(source: SourceRuntime): number | undefined {
    if (source.id !== 0 || this.journalFound || source.decodesWholeStream || !/^https?:/i.test(source.effectiveUrl)) return undefined;
    return LEAD_BYTES;
  }

  /**
   * The reference's probe response is still open: a channel adopts it as the segment [0, end)
   * when those bytes are all still missing; otherwise it is dropped (by admit).
   */
  private adoptLead(source: SourceRuntime, probe: ProbeResult): void {
    const lead = probe.lead;
    if (!lead || this.paused || this.isOver() || !source.usable || source.channels >= source.targetChannels) return;
    // No bigger than a first segment would be, so the pattern still shares a small file among
    // the sources; segments end on piece boundaries (a lead shorter than a piece is not adopted).
    const share = Math.max(UNMEASURED_SEGMENT_BYTES, this.size / (4 * Math.max(1, source.targetChannels)));
    const wanted = Math.min(lead.end, share);
    const end = wanted >= this.size ? this.size : wanted - (wanted % this.pieceSize);
    const segment = end > 0 ? this.planner!.claim(source.id, 0, end, Date.now()) : undefined;
    if (!segment) return;
    probe.lead = undefined;
    this.startChannel(source, { segment, opened: lead });
  }

  /**
   * A source that began working speculatively failed its spot check: it is excluded (its running
   * segments stop) and, where no per-piece hash proved them, the pieces it delivered are fetched
   * again from the others.
   */
  private rejectAfterJoin(source: SourceRuntime, reason: string): void {
    source.bytesDistrusted = true;
    this.exclude(source, reason);
    const taken = this.takeBackPiecesFrom(source);
    if (taken > 0) this.log('repair', `${taken} pieces it delivered will be fetched again from other sources`, source);
  }

  /**
   * A source whose size statement is unusable (FTP `213 abc`) takes the trusted size, else the
   * reference's; null when no other source is left to become the reference.
   */
  private sizeForUnstated(source: SourceRuntime): number | null | undefined {
    const known = this.options.expected?.size ?? (this.reference && this.size >= 0 ? this.size : undefined);
    if (known !== undefined) return known;
    const othersLeft = this.sources.some((s) => s !== source && s.state !== 'excluded' && s.state !== 'banned');
    return othersLeft ? undefined : null;
  }

  /** Channels for a source: the job's per-source cap, or fewer where the protocol caps sessions (FTP). */
  private channelsFor(source: SourceRuntime): number {
    if (source.identityPending) return 1;
    return Math.min(this.connectionsPerSource, this.transport.connectionLimit(source.spec.url));
  }

  /** Probes run at most MAX_PARALLEL_PROBES at a time, so many mirrors do not mean many sockets. */
  private async withProbeSlot<T>(probe: () => Promise<T>): Promise<T> {
    while (this.probesRunning >= MAX_PARALLEL_PROBES) {
      await new Promise<void>((resolve) => this.probeWaiters.push(resolve));
    }
    this.probesRunning++;
    try {
      return await probe();
    } finally {
      this.probesRunning--;
      this.probeWaiters.shift()?.();
    }
  }

  private probesRunning = 0;
  private readonly probeWaiters: Array<() => void> = [];

  private maybeElectReference(): void {
    if (this.reference) return;
    if (this.sources.every((s) => s.state === 'excluded' || s.decodesWholeStream)) {
      this.fail(this.noSourceError());
    }
    // Otherwise the next source whose probe succeeds becomes the reference (see admit()).
  }

  private primaryProbeFailed = false;
  private markPrimaryFailed!: () => void;
  private readonly primaryFailed = new Promise<void>((resolve) => { this.markPrimaryFailed = resolve; });

  private notePrimaryFailed(): void {
    this.primaryProbeFailed = true;
    this.markPrimaryFailed();
  }

  /** The reference (primary, or the first healthy source when the primary failed) fixes the layout. */
  private async becomeReference(source: SourceRuntime, probe: ProbeResult): Promise<void> {
    this.reference = source;
    this.referenceProbe = probe;
    const expected = this.options.expected ?? {};
    this.headerSha256 = expected.sha256 ? undefined : sha256FromHeaders(probe.headers);
    if (this.options.useLinkHeaderMirrors !== false) this.addLinkHeaderMirrors(probe);
    try {
      await this.initLayout(probe.size);
    } catch (error) {
      this.fail(toFetchError(error));
      return;
    }
    // The block every other source is compared with is asked for now, before the reference's
    // channels fill its connections: otherwise it queues behind their first segments and every
    // other source joins that much later.
    if (this.sources.length > 1 && !this.pieces!.complete) void this.spotBlock();
    this.join(source);
    if (!this.pieces!.complete) this.adoptLead(source, probe);
    this.markReferenceReady();
    if (this.pieces!.complete) this.settle();
  }

  private addLinkHeaderMirrors(probe: ProbeResult): void {
    const known = new Set(this.sources.map((s) => `${s.spec.url} ${s.spec.proxy ?? s.spec.localAddress ?? ''}`));
    for (const mirror of parseLinkMirrors(probe.headers.link, probe.finalUrl)) {
      if (known.has(`${mirror.url} `) || this.sources.length >= 64) continue;
      const spec: SourceSpec = { url: mirror.url, priority: mirror.priority !== undefined ? 100 - mirror.priority : 0, location: mirror.geo, origin: 'link-header' };
      const source = new SourceRuntime(this.sources.length, spec);
      this.sources.push(source);
      known.add(`${mirror.url} `);
      this.log('info', `mirror from the primary's Link header: ${redactUrl(mirror.url)}`, source);
      void this.admit(source);
    }
  }

  /**
   * Why `source` does not hold the reference's bytes as far as its probe shows, or undefined: same
   * size, same strong ETag when both are on the same origin (ETags are per server), the same first
   * block. (The block at a random offset is spotCheckMismatch's.)
   */
  private probeMismatch(source: SourceRuntime, probe: ProbeResult): string | undefined {
    const reference = this.referenceProbe!;
    if (probe.size !== this.size) return `size ${probe.size} differs from the primary's ${this.size}`;
    const sameOrigin = new URL(source.effectiveUrl).host === new URL(this.reference!.effectiveUrl).host;
    if (sameOrigin && probe.strongEtag && reference.strongEtag && probe.strongEtag !== reference.strongEtag) {
      return `ETag ${probe.strongEtag} differs from the primary's ${reference.strongEtag}`;
    }
    if (!probe.sample.equals(reference.sample.subarray(0, probe.sample.length)) || probe.sample.length !== reference.sample.length) {
      return 'its first block differs from the primary (a different file or version)';
    }
    return undefined;
  }

  /** Why `source`'s block at the reference's random offset differs, or undefined (or no check possible). */
  private async spotCheckMismatch(source: SourceRuntime): Promise<string | undefined> {
    if (source.noRange) return undefined;
    const reference = this.spotBlock();
    const range = this.spotRange;
    // A source that is out (banned for a bad trial piece, excluded) is never asked.
    if (!range || source.state === 'banned' || source.state === 'excluded') return undefined;
    // Both blocks at once: the reference's may still be on its way.
    const mine = fetchBlock(this.transport, source, range.offset, range.length, this.size, this.controller.signal);
    mine.catch(() => undefined); // awaited below, unless the reference's block failed
    const referenceBlock = await reference;
    if (!referenceBlock) return undefined;
    try {
      const block = await mine;
      if (!block.equals(referenceBlock)) return `its block at offset ${range.offset} differs from the primary (a different file or version)`;
    } catch (error) {
      // Ignoring Range is not another file: it only means no ranged work (and no spot check).
      if (error instanceof TransportError && error.kind === 'no-range') {
        this.demoteNoRange(source);
        return undefined;
      }
      return `identity spot check failed: ${(error as Error).message}`;
    }
    return undefined;
  }

  /** One block at a random offset, fetched once from the reference for every spot check. */
  private spotBlock(): Promise<Buffer | undefined> {
    // A reference banned for corrupt data is neither asked again nor a yardstick: the piece
    // checks (or audits) judge the newcomer instead.
    if (!this.spotCheck && (this.reference!.state === 'banned' || this.reference!.state === 'excluded')) return Promise.resolve(undefined);
    if (!this.spotCheck) {
      const length = Math.min(16 * 1024, this.size);
      const offset = this.size > 2 * 64 * 1024 ? 64 * 1024 + Math.floor(Math.random() * (this.size - 64 * 1024 - length)) : 0;
      if (offset === 0 || this.reference!.noRange) {
        this.spotCheck = Promise.resolve(undefined);
      } else {
        this.spotRange = { offset, length };
        this.spotCheck = fetchBlock(this.transport, this.reference!, offset, length, this.size, this.controller.signal).catch(() => undefined);
      }
    }
    return this.spotCheck;
  }

  /** A source that passed its checks starts working (or waits on standby). */
  private join(source: SourceRuntime): void {
    if (this.isOver()) return;
    const activeCount = this.sources.filter((s) => s.state === 'active').length;
    if (source.noRange && source !== this.reference && !source.decodesWholeStream) {
      source.setState('standby', 'ignores Range requests: only usable for a whole download from byte 0');
    } else if (activeCount < this.maxActiveSources) {
      source.setState('active', source === this.reference ? 'reference source' : 'same bytes as the primary');
      source.targetChannels = source.noRange ? 1 : this.channelsFor(source);
      this.log('promoted', `active: ${source.reason}`, source);
    } else {
      source.setState('standby', `standby: ${this.maxActiveSources} sources already active`);
    }
    this.replan(Date.now());
    if (this.reference && this.reference !== source) this.ensureChannels();
  }

  private exclude(source: SourceRuntime, reason: string): void {
    if (source.state === 'excluded' || source.state === 'banned') return;
    source.setState('excluded', reason);
    source.targetChannels = 0;
    source.rank = 0;
    this.releaseReservations(source);
    this.log('excluded', reason, source);
    for (const segment of this.planner?.active.values() ?? []) {
      if (segment.sourceId === source.id) this.abortSegment(segment, reason);
    }
    this.checkSourcesLeft();
  }

  // ---------------------------------------------------------------- layout, resume

  private async initLayout(size: number): Promise<void> {
    const expected = this.options.expected ?? {};
    this.size = size;
    this.pieceSize = expected.pieceSize ?? this.options.pieceSize ?? choosePieceSize(size);
    const expectedLeaves = expected.leaves?.map((hex) => Buffer.from(hex, 'hex'));
    const expectedPlain = expected.pieceSha256?.map((hex) => Buffer.from(hex, 'hex'));
    if (expectedPlain && expectedPlain.length !== Math.ceil(size / this.pieceSize)) {
      throw new FetchError(ErrorCode.VerificationFailed, `verification failed: ${expectedPlain.length} piece hashes do not cover ${size} bytes in ${this.pieceSize}-byte pieces`);
    }
    this.pieces = new PieceStore(size, this.pieceSize, expectedLeaves, expectedPlain);
    const rates: RateModel = {
      channelRate: (id) => this.channelRate(this.sources[id]),
      segmentBytes: (id, openBytes) => this.segmentBytes(this.sources[id], openBytes),
      latencyMs: (id) => this.sources[id].latencyMs,
      workingSources: () => this.sources
        .filter((s) => s.state === 'active' && s.usable && !s.noRange && s.targetChannels > 0 && Date.now() >= s.backoffUntil)
        .map((s) => s.id),
      totalRate: () => this.totalMeter.rate(),
    };
    this.planner = new SegmentPlanner(this.pieces, this.pattern, rates);
    const identity = this.journalIdentity();
    const { content, reason } = await loadJournal(this.journalPath, identity);
    const partExists = await fs.lstat(this.partPath).then(() => true, () => false);
    if (this.referenceProbe?.unsatisfiable && size > 0 && !(content && partExists)) {
      // A 416 can only confirm a complete local copy; it is never a reason to drop a partial.
      throw new FetchError(ErrorCode.NoUsableSource, `416 range not satisfiable from ${redactUrl(this.reference!.spec.url)} (it states size ${size}); the local state was left as it is`);
    }
    const early = this.earlyPart && (await this.earlyPart);
    this.earlyPart = undefined;
    if (content && partExists) {
      this.partFile = await PartFile.open(this.partPath, size, 0);
      await this.rehashJournaledPieces(content.done, content.leaves);
    } else if (early) {
      this.partFile = early;
      await early.resize(size, size);
    } else {
      if (partExists && reason !== 'no journal') this.log('info', `starting over: ${reason}`);
      await fs.rm(this.partPath, { force: true });
      this.partFile = await PartFile.open(this.partPath, size, size);
    }
    this.prefixHasher ??= new PrefixHasher(this.partPath);
    this.prefixHasher.attach(this.pieces, this.partFile);
    if (!this.pieces.checksEachPiece) {
      this.auditor = new PieceAuditor({
        pieces: this.pieces,
        transport: this.transport,
        sources: this.sources,
        signal: this.controller.signal,
        helpers: () => this.sources.filter((s) => s.state === 'active' && !s.noRange && s.size === size),
        convict: (culprit, index) => this.quarantine(culprit, `sent corrupt data (piece ${index} disagreed with two other sources)`),
        onFetched: (bytes) => { this.bytesAudited += bytes; this.bytesFetched += bytes; },
      }, expected.sha256 ? LIGHT_AUDITS : THOROUGH_AUDITS);
    }
    this.planner.reset();
    this.prefixHasher.kick();
    const planner = this.planner;
    this.streams.attach({
      pieces: this.pieces,
      partPath: this.partPath,
      // Idle channels look at the new urgent ranges now, not at their next poll.
      setUrgentRanges: (ranges) => { planner.setUrgentRanges(ranges); this.wake(); },
    });
  }

  private journalIdentity(): JournalIdentity {
    const expected = this.options.expected ?? {};
    return {
      // Without userinfo: an ftp://user:password@ URL must not put its password into a state file.
      primaryUrl: withoutUserinfo(this.options.sources[0].url),
      size: this.size,
      pieceSize: this.pieceSize,
      validator: this.reference === this.sources[0] ? this.referenceProbe?.strongEtag : undefined,
      expectedSha256: expected.sha256?.toLowerCase(),
      expectedRoot: expected.root?.toLowerCase(),
    };
  }

  /** Trusts journaled pieces only after re-hashing them from disk (power loss, torn writes). */
  private async rehashJournaledPieces(done: number[], leaves: string[]): Promise<void> {
    const pieces = this.pieces!;
    let kept = 0;
    let dropped = 0;
    const buffer = Buffer.allocUnsafe(this.pieceSize);
    for (let i = 0; i < done.length; i++) {
      const index = done[i];
      if (!Number.isInteger(index) || index < 0 || index >= pieces.count || pieces.isDone(index)) continue;
      const start = pieces.pieceStart(index);
      const length = pieces.pieceEnd(index) - start;
      const data = await this.partFile!.read(start, length, buffer.subarray(0, length));
      const leaf = pieces.feed(start, [data], -1)[0];
      if (leaf && leaf.kind === 'done' && leaf.leaf.toString('hex') === leaves[i]) {
        kept++;
      } else {
        pieces.markMissing(index);
        dropped++;
      }
    }
    this.bytesResumed = pieces.bytesDone;
    this.log('info', `resumed: ${kept} pieces re-verified from disk${dropped ? `, ${dropped} did not match and will be fetched again` : ''}`);
  }

  // ---------------------------------------------------------------- channels

  private ensureChannels(): void {
    if (!this.planner || this.paused || this.isOver()) return;
    for (const source of this.sources) {
      while (source.usable && source.channels < source.targetChannels && !this.pieces!.complete && this.totalChannels() < this.channelLimit) {
        this.startChannel(source);
      }
    }
  }

  /** One more channel of `source`; `first`: a segment it runs before taking work from the planner. */
  private startChannel(source: SourceRuntime, first?: { segment: Segment; opened: OpenedBody }): void {
    source.channels++;
    const loop = this.channelLoop(source, first).finally(() => {
      source.channels--;
      this.channelLoops.delete(loop);
    });
    this.channelLoops.add(loop);
  }

  private async channelLoop(source: SourceRuntime, first?: { segment: Segment; opened: OpenedBody }): Promise<void> {
    const planner = this.planner!;
    if (first) {
      const run = this.runSegment(source, first.segment, first.opened);
      this.segmentRuns.set(first.segment.id, run);
      await run;
      this.segmentRuns.delete(first.segment.id);
    }
    while (!this.isOver() && !this.paused && !this.pieces!.complete && source.usable && source.channels <= source.targetChannels) {
      const now = Date.now();
      if (now < source.backoffUntil) {
        await this.waitForWork(source.backoffUntil - now);
        continue;
      }
      if (source.identityPending && source.bytesReceived > 0) {
        // One piece on trial; the rest once its spot check answered (admit wakes us).
        await this.waitForWork(TICK_MS);
        continue;
      }
      const segment =
        planner.take(source.id, now, source.noRange) ??
        (source.noRange ? undefined : planner.steal(source.id, now) ?? planner.race(source.id, now));
      if (!segment) {
        if (this.pieces!.complete) return;
        await this.waitForWork(TICK_MS);
        continue;
      }
      if (!this.withinExpensiveShare(source, segment)) {
        planner.release(segment);
        await this.waitForWork(TICK_MS);
        continue;
      }
      if (segment.racing) this.log('endgame', `racing bytes ${segment.start}-${segment.end - 1} of a slower channel`, source);
      const run = this.runSegment(source, segment);
      this.segmentRuns.set(segment.id, run);
      await run;
      this.segmentRuns.delete(segment.id);
    }
  }

  private async runSegment(source: SourceRuntime, segment: Segment, opened?: OpenedBody): Promise<void> {
    const sink: SegmentSink = {
      transport: this.transport,
      pieces: this.pieces!,
      partFile: this.partFile!,
      limiter: this.limiter,
      size: this.size,
      receiveBuffers: this.receiveBuffers,
      onBytes: (src, bytes, now) => this.onBytes(src, bytes, now),
      onPieces: (outcomes) => this.onPieces(outcomes),
      commitRacedPiece: (racer, index, buffers, leaf) => this.commitRacedPiece(racer, index, buffers, leaf),
    };
    const receivedBefore = segment.received;
    try {
      await fetchSegment(sink, source, segment, opened);
      if (segment.received > receivedBefore) source.attemptsWithoutProgress = 0;
      if (segment.abortReason && source.state !== 'banned' && source.state !== 'excluded' && segment.abortReason !== 'job ending' && segment.abortReason !== 'paused') {
        this.log('dropped', `${segment.abortReason}; bytes from ${segment.cursor} continue elsewhere`, source);
      }
    } catch (error) {
      if (segment.received > receivedBefore) source.attemptsWithoutProgress = 0;
      if (error instanceof TransportError) this.onSourceFailure(source, error, segment);
      else if (error instanceof PlannerConflict) {
        this.log('info', `re-planning bytes from ${segment.cursor}: ${error.message}`, source);
        this.discardPartialPiece(segment);
      } else this.fail(toFetchError(error, ErrorCode.Disk));
    } finally {
      // Bytes from a banned source are never continued by anyone else: restart its partial piece.
      if (source.bytesDistrusted) this.discardPartialPiece(segment);
      this.planner!.release(segment);
      this.wake();
    }
  }

  private discardPartialPiece(segment: Segment): void {
    const pieces = this.pieces!;
    if (segment.racing || segment.cursor >= segment.end || segment.cursor % this.pieceSize === 0) return;
    const index = pieces.pieceOf(segment.cursor);
    pieces.resetProgress(index);
    segment.cursor = pieces.pieceStart(index);
  }

  private onBytes(source: SourceRuntime, bytes: number, now: number): void {
    if (source.activeSince === 0) source.activeSince = now;
    if (source.firstByteAt === 0) source.firstByteAt = now;
    source.lastByteAt = now;
    source.meter.add(bytes, now);
    source.bytesReceived += bytes;
    this.totalMeter.add(bytes, now);
    this.bytesFetched += bytes;
  }

  private onPieces(outcomes: PieceOutcome[]): void {
    const pieces = this.pieces!;
    for (const outcome of outcomes) {
      const length = pieces.pieceEnd(outcome.index) - pieces.pieceStart(outcome.index);
      if (outcome.kind === 'done' && !pieces.checksEachPiece && outcome.senders.some((id) => this.sources[id]?.bytesDistrusted)) {
        // Nothing proves this piece, and a sender of it is convicted: it is fetched again.
        pieces.markMissing(outcome.index);
        this.planner!.addOpen(pieces.pieceStart(outcome.index), pieces.pieceEnd(outcome.index));
        continue;
      }
      if (outcome.kind === 'done') {
        // Each sender is credited what it actually fed (a continued piece has several).
        const credit = outcome.credit ?? new Map(outcome.senders.map((id) => [id, length / outcome.senders.length]));
        for (const [id, bytes] of credit) if (id >= 0) this.sources[id].bytes += bytes;
        this.journalDirty = true;
        if (outcome.senders.length === 1 && outcome.senders[0] >= 0) this.auditor?.consider(outcome.index, outcome.senders[0]);
        continue;
      }
      this.onCorruptPiece(outcome.index, outcome.senders);
    }
    this.prefixHasher?.kick();
    this.streams.piecesChanged();
    if (pieces.complete) this.settle();
  }

  /** A piece failed its trusted leaf: discard it, blame its sender(s), fetch it elsewhere. */
  private onCorruptPiece(index: number, senders: number[]): void {
    const pieces = this.pieces!;
    const start = pieces.pieceStart(index);
    const end = pieces.pieceEnd(index);
    pieces.markMissing(index);
    this.planner!.removeOpen(start, end);
    this.planner!.addOpen(start, end);
    // A sender already banned explains the bad piece; the others are not blamed for its bytes.
    const alreadyBanned = senders.filter((id) => this.sources[id]?.state === 'banned');
    const blamed = alreadyBanned.length > 0 ? [] : senders;
    const proven = blamed.length === 1;
    for (const id of blamed) {
      const source = this.sources[id];
      if (!source) continue;
      source.strikes++;
      source.corruptPieces.push(index);
      if (proven || source.strikes >= MAX_STRIKES) {
        this.ban(source, `sent corrupt data for piece${source.corruptPieces.length > 1 ? 's' : ''} ${formatList(source.corruptPieces)}`);
      } else {
        this.log('demoted', `strike ${source.strikes}: piece ${index} failed verification (shared with another source)`, source);
      }
    }
    this.wake();
  }

  private ban(source: SourceRuntime, reason: string): void {
    if (source.state === 'banned') return;
    source.bytesDistrusted = true;
    source.setState('banned', reason);
    source.targetChannels = 0;
    source.rank = 0;
    this.releaseReservations(source);
    this.log('banned', reason, source);
    for (const segment of this.planner?.active.values() ?? []) {
      if (segment.sourceId === source.id) this.abortSegment(segment, `banned: ${reason}`);
    }
    this.checkSourcesLeft();
  }

  /**
   * A majority convicted `culprit` while downloading: ban it, and take back every piece it
   * delivered (none of them can be trusted), so they are fetched again from the others.
   */
  private quarantine(culprit: SourceRuntime, reason: string): void {
    // Once every piece is done the final hash decides (and repair, if needed): no take-backs then.
    if (culprit.state === 'banned' || this.isOver() || !this.pieces || this.pieces.complete) return;
    this.ban(culprit, reason);
    const taken = this.takeBackPiecesFrom(culprit);
    if (taken > 0) this.log('repair', `${taken} pieces it delivered will be fetched again from other sources`, culprit);
  }

  /**
   * Every done piece `source` sent is taken back (fetched again from the others), unless a
   * per-piece hash proved it or every piece is done already (then the final hash decides, and
   * repair replaces what is bad). Returns how many pieces were taken back.
   */
  private takeBackPiecesFrom(source: SourceRuntime): number {
    const pieces = this.pieces;
    if (!pieces || pieces.checksEachPiece || pieces.complete || this.isOver()) return 0;
    let taken = 0;
    for (let index = 0; index < pieces.count; index++) {
      if (!pieces.isDone(index) || !(pieces.senders[index] ?? []).includes(source.id)) continue;
      source.bytes -= pieces.pieceEnd(index) - pieces.pieceStart(index);
      pieces.markMissing(index);
      this.planner!.addOpen(pieces.pieceStart(index), pieces.pieceEnd(index));
      taken++;
    }
    source.bytes = Math.max(0, source.bytes);
    if (taken > 0) {
      void this.prefixHasher?.restart().then(() => this.prefixHasher?.kick());
      this.journalDirty = true;
      this.ensureChannels();
      this.wake();
    }
    return taken;
  }

  /**
   * An endgame racer finished a piece first: stop the raced channel, then commit the racer's bytes.
   * Ownership stays exclusive: the piece is committed only when no running segment holds any of
   * its bytes, and it leaves the open ranges before the first await, so nobody can take it.
   */
  private async commitRacedPiece(racer: Segment, index: number, buffers: Buffer[], leaf: Buffer): Promise<void> {
    const pieces = this.pieces!;
    const victim = racer.raced;
    if (!victim || pieces.isDone(index) || this.isOver()) return;
    const start = pieces.pieceStart(index);
    const end = pieces.pieceEnd(index);
    // The victim gives back nothing of the raced piece when it is released: its channel would
    // otherwise take the piece straight back and the racer could never commit.
    victim.end = Math.min(victim.end, start);
    this.abortSegment(victim, 'lost the endgame race');
    await this.segmentRuns.get(victim.id);
    if (pieces.isDone(index) || this.isOver()) return;
    for (const segment of this.planner!.active.values()) {
      if (!segment.racing && segment.cursor < end && segment.end > start) return;
    }
    this.planner!.removeOpen(start, end);
    pieces.resetProgress(index);
    try {
      await this.partFile!.write(buffers, start);
    } catch (error) {
      this.planner!.addOpen(start, end);
      throw error;
    }
    const plain = pieces.expectedPlain ? buffers.reduce((hash, b) => hash.update(b), createHash('sha256')).digest() : undefined;
    const outcome = pieces.finish(index, leaf, [racer.sourceId], plain);
    if (outcome.kind === 'corrupt') this.planner!.addOpen(start, end);
    this.log('endgame', `won the race for piece ${index}`, this.sources[racer.sourceId]);
    racer.end = end; // a racer wins one piece, then stops
    this.onPieces([outcome]);
  }

  private onSourceFailure(source: SourceRuntime, error: TransportError, segment: Segment): void {
    if (error.kind === 'aborted' || segment.abortReason) return;
    switch (error.kind) {
      case 'permanent':
        this.exclude(source, error.message);
        return;
      case 'changed':
        this.exclude(source, `its copy changed: ${error.message}`);
        return;
      case 'no-range':
        this.demoteNoRange(source);
        return;
      case 'protocol':
        source.strikes++;
        break;
      case 'transient':
        break;
    }
    source.attemptsWithoutProgress++;
    source.effectiveUrl = source.spec.url;
    this.releaseReservations(source);
    if (source.attemptsWithoutProgress >= MAX_ATTEMPTS_WITHOUT_PROGRESS) {
      source.setState('dropped', `failed ${source.attemptsWithoutProgress} times in a row: ${error.message}`);
      source.targetChannels = 0;
      this.log('dropped', source.reason, source);
      this.checkSourcesLeft();
      return;
    }
    const delay = retryDelay(source.attemptsWithoutProgress, error.retryAfterMs, this.msLeft());
    const alreadyWaiting = source.state === 'waiting' && source.backoffUntil > Date.now();
    source.backoffUntil = Math.max(source.backoffUntil, Date.now() + delay);
    source.setState('waiting', `${error.message}; retrying in ${((source.backoffUntil - Date.now()) / 1000).toFixed(1)} s`);
    // Its other channels fail the same way at the same moment: log the first, not each.
    if (!alreadyWaiting) this.log('retry', source.reason, source);
  }

  /** It answered a ranged request with the whole body: no more ranged work for it. */
  private demoteNoRange(source: SourceRuntime): void {
    source.noRange = true;
    source.strikes++;
    if (source !== this.reference || this.sources.some((s) => s !== source && s.usable && !s.noRange)) {
      source.setState('standby', 'ignores Range requests: gets no ranged work');
      source.targetChannels = 0;
      this.log('demoted', source.reason, source);
    }
  }

  /** A source stopped taking work (backoff, drop, ban, exclusion): nothing stays reserved for it. */
  private releaseReservations(source: SourceRuntime): void {
    this.planner?.clearReservations(source.id);
    this.replanSoon = true;
  }

  private abortSegment(segment: Segment, reason: string): void {
    if (segment.controller.signal.aborted) return;
    segment.abortReason = reason;
    segment.controller.abort();
  }

  private waitForWork(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(1, ms));
      const waker = (): void => done();
      this.wakers.push(waker);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const waker of wakers) waker();
  }

  // ---------------------------------------------------------------- cost cap and external ranking

  private get expensiveShare(): number {
    return this.options.maxExpensiveShare ?? 1;
  }

  /** The cap applies while a free source can still carry the bytes; without one it is lifted. */
  private expensiveCapBinds(): boolean {
    return this.expensiveShare < 1 && this.sources.some((s) => !isExpensive(s) && s.usable);
  }

  /** Cuts a new segment of an expensive source to the cap's budget; false: it gets none now. */
  private withinExpensiveShare(source: SourceRuntime, segment: Segment): boolean {
    if (!isExpensive(source) || !this.expensiveCapBinds()) return true;
    const left = expensiveBytesLeft(this.expensiveShare, this.size, this.sources, this.planner!.active.values(), segment);
    const { fits, reopen } = fitSegmentToBudget(segment, left, this.pieces!);
    if (reopen) this.planner!.addOpen(reopen.start, reopen.end);
    if (!fits && !this.expensiveCapLogged) {
      this.expensiveCapLogged = true;
      this.log('info', `sources with a cost reached their cap of ${Math.round(this.expensiveShare * 100)}% of the bytes; free sources carry the rest`);
    }
    return fits;
  }

  private expensiveCapLogged = false;
  /** Scores of the external ranking service by (redacted) source URL, once it answered. */
  private externalScores?: Map<string, number>;

  /** Asks the external ranking service once; its answer counts from the next re-rank on. */
  private askExternalRanking(): void {
    const options = this.options.externalRanking;
    if (!options || (!options.command && !options.url)) return;
    const sources = this.sources.map((s) => ({ url: redactUrl(s.spec.url), route: s.spec.proxy ? redactUrl(s.spec.proxy) : s.spec.localAddress }));
    void fetchExternalScores(options, sources, this.controller.signal).then((answer) => {
      if (this.isOver()) return;
      if (!answer.ok) {
        this.log('info', `external ranking ignored (${answer.from}): ${answer.reason}`);
        return;
      }
      this.externalScores = answer.scores;
      this.replanSoon = true;
      this.log('info', `external ranking: ${answer.scores.size} scores from ${answer.from}${answer.cached ? ' (cached)' : ''}`);
    });
  }

  // ---------------------------------------------------------------- rates and sizing

  /** Expected bytes/s of one channel of `source`. */
  private channelRate(source: SourceRuntime): number {
    const rate = source.meter.rate();
    return rate > 0 ? rate / Math.max(1, source.channels) : 0;
  }

  /**
   * Bytes one segment of `source` should hold: about SEGMENT_SECONDS of its channel rate, and never
   * more than its proportional share of what is left, so every channel finishes at about the same
   * time as the open bytes run out.
   */
  private segmentBytes(source: SourceRuntime, openBytes: number): number {
    if (source.identityPending) return this.pieceSize;
    const rate = this.channelRate(source);
    if (rate <= 0) return Math.min(UNMEASURED_SEGMENT_BYTES, Math.max(this.pieceSize, openBytes / Math.max(1, this.totalChannels())));
    const totalRate = Math.max(rate, this.totalMeter.rate());
    const share = (openBytes * rate) / totalRate;
    return Math.max(this.pieceSize, Math.min(rate * SEGMENT_SECONDS, MAX_SEGMENT_BYTES, share));
  }

  private totalChannels(): number {
    return this.sources.reduce((sum, s) => sum + s.channels, 0);
  }

  // ---------------------------------------------------------------- the scheduler tick

  private tick(): void {
    if (this.isOver() || !this.planner) return;
    const now = Date.now();
    if (this.paused) return;
    this.dropStalledChannels(now);
    this.dropSlowSources(now);
    for (const source of this.sources) {
      if (source.state === 'waiting' && now >= source.backoffUntil) source.setState('active', 'retrying after backoff');
    }
    if (this.replanSoon || now - this.lastReplanAt >= REPLAN_MS) this.replan(now);
    if (now - this.lastExploreAt >= EXPLORE_EVERY_MS) this.explore(now);
    if (this.journalDirty && now - this.lastJournalAt >= JOURNAL_EVERY_MS) void this.saveJournalNow();
    if (!this.merkleWarmed && now - this.startedAt >= MERKLE_WARM_UP_AFTER_MS && this.pieces) {
      // The root is built once, at the very end, on the critical path. Its first build pays for
      // loading the tree library and for cold code (~50 ms for 1,000 leaves, then ~8 ms): pay that
      // now, while the download runs, on the leaves so far.
      this.merkleWarmed = true;
      const leaves = this.pieces.leaves;
      setImmediate(() => {
        try {
          merkleRoot(Array.from(leaves, (leaf) => leaf ?? PLACEHOLDER_LEAF));
        } catch {
          // Only a warm-up: the real root is built (and checked) at the end.
        }
      });
    }
    if (!this.planner.hasOpenWork && !this.earlySyncStarted && this.partFile) {
      // Every byte is assigned: start writing the data to disk now, so the fsync before publishing
      // only has the last pieces left to flush.
      this.earlySyncStarted = true;
      this.partFile.flushInBackground();
    }
    this.ensureChannels();
    this.checkSourcesLeft();
    this.wake();
  }

  private dropStalledChannels(now: number): void {
    for (const segment of this.planner!.active.values()) {
      if (now - segment.lastByteAt <= STALL_MS || segment.controller.signal.aborted) continue;
      const source = this.sources[segment.sourceId];
      this.abortSegment(segment, `stalled: no data for ${Math.round((now - segment.lastByteAt) / 1000)} s`);
      source.attemptsWithoutProgress++;
      this.releaseReservations(source);
      if (source.attemptsWithoutProgress >= MAX_ATTEMPTS_WITHOUT_PROGRESS) {
        source.setState('dropped', `stalled ${source.attemptsWithoutProgress} times in a row`);
        source.targetChannels = 0;
        this.log('dropped', source.reason, source);
      } else {
        source.backoffUntil = now + retryDelay(source.attemptsWithoutProgress, undefined, this.msLeft());
        source.setState('slow', segment.abortReason!);
      }
    }
  }

  /** A source below the minimum speed after its grace window stops getting work for a while. */
  private dropSlowSources(now: number): void {
    for (const source of this.sources) {
      if (source.state !== 'active' || source.channels === 0 || source.activeSince === 0) continue;
      if (now - source.activeSince < SLOW_GRACE_MS) continue;
      const rate = source.meter.rate(now);
      if (rate >= this.minSourceSpeed) continue;
      // Speed is relative: the last working source is never benched for being slow, it is all
      // there is (a stalled channel of it is still retried by the stall rule).
      if (!this.sources.some((other) => other !== source && other.state === 'active' && !other.noRange)) continue;
      source.setState('slow', `below the minimum speed: ${formatRate(rate)} < ${formatRate(this.minSourceSpeed)}`);
      this.releaseReservations(source);
      source.targetChannels = 0;
      source.backoffUntil = now + SLOW_BACKOFF_MS;
      source.activeSince = 0;
      this.log('dropped', source.reason, source);
      for (const segment of this.planner!.active.values()) {
        if (segment.sourceId === source.id) this.abortSegment(segment, source.reason);
      }
    }
  }

  /** Re-ranks sources, picks the active set and recomputes the allocation pattern. */
  private replan(now: number): void {
    this.lastReplanAt = now;
    this.replanSoon = false;
    const candidates = this.sources.filter((s) => s.usable && !(s.noRange && s !== this.reference && !s.decodesWholeStream));
    const rates = candidates.map((s) => s.meter.rate(now));
    const context = {
      bestRate: Math.max(0, ...rates),
      bestLatencyMs: Math.min(...candidates.map((s) => s.latencyMs || Infinity)),
      maxPriority: Math.max(0, ...candidates.map((s) => s.priority)),
      maxCost: Math.max(0, ...candidates.map((s) => s.cost)),
      location: this.options.location,
      external: this.externalScores && new Map(candidates.map((s) => [s.id, this.externalScores!.get(redactUrl(s.spec.url)) ?? 0])),
      now,
    };
    const weights = { ...DEFAULT_RANKING_WEIGHTS, ...this.options.rankingWeights };
    for (const source of candidates) ({ score: source.score, inputs: source.scoreInputs } = scoreBreakdown(source, context, weights));
    candidates.sort((a, b) => b.score - a.score);
    candidates.forEach((source, i) => { source.rank = i + 1; });
    for (const [i, source] of candidates.entries()) {
      const shouldBeActive = i < this.maxActiveSources;
      if (shouldBeActive && source.state === 'standby') {
        source.setState('active', `promoted: rank ${i + 1}`);
        this.log('promoted', source.reason, source);
      } else if (!shouldBeActive && source.state === 'active') {
        source.setState('standby', `demoted: rank ${i + 1} of ${candidates.length}, ${this.maxActiveSources} active at most`);
        this.log('demoted', source.reason, source);
      }
      if (source.state === 'active' || source.state === 'waiting') {
        const rate = source.meter.rate(now);
        // Slow sources keep all their connections too: with per-request latency, fewer connections
        // leave a capped mirror idle between requests (measured: 85% of a 2 MB/s cap with two).
        source.targetChannels = source.noRange ? 1 : this.channelsFor(source);
        if (source.state === 'active' && source.meter.totalBytes > 0) {
          source.reason = i === 0 ? `fastest: ${formatRate(rate)}` : `rank ${i + 1}: ${formatRate(rate)}`;
        }
      } else if (source.state === 'standby') {
        source.targetChannels = 0;
      }
    }
    const weightsBySource = new Map<number, number>();
    const measured = candidates.filter((s) => s.targetChannels > 0 && s.meter.totalBytes > 0);
    const fallback = measured.length > 0 ? Math.min(...measured.map((s) => s.meter.rate(now))) : 1;
    for (const source of candidates) {
      // Only sources that can take work now get a place in the pattern (not those in backoff).
      if (source.targetChannels === 0 || source.state !== 'active' || now < source.backoffUntil) continue;
      weightsBySource.set(source.id, source.meter.totalBytes > 0 ? Math.max(1, source.meter.rate(now)) : fallback);
    }
    this.pattern.recompute(this.expensiveCapBinds() ? capExpensiveWeights(weightsBySource, (id) => isExpensive(this.sources[id]), this.expensiveShare) : weightsBySource);
    this.planner?.clearReservations();
  }

  /** Now and then a standby or slow source gets one channel, to measure it again. */
  private explore(now: number): void {
    this.lastExploreAt = now;
    const candidate = this.sources
      .filter((s) => (s.state === 'standby' || s.state === 'slow') && !s.noRange && now >= s.backoffUntil)
      .sort((a, b) => a.lastExploredAt - b.lastExploredAt)[0];
    if (!candidate || !this.planner?.hasOpenWork) return;
    candidate.lastExploredAt = now;
    candidate.setState('active', 'exploring: measuring it again');
    candidate.targetChannels = 1;
    candidate.activeSince = 0;
    this.log('promoted', candidate.reason, candidate);
  }

  private checkSourcesLeft(): void {
    if (this.isOver() || !this.reference || this.pieces?.complete) return;
    const alive = this.sources.some((s) => s.usable && (!s.noRange || s === this.reference || s.decodesWholeStream) && s.state !== 'standby')
      || this.sources.some((s) => s.state === 'probing')
      || this.sources.some((s) => s.state === 'standby' && !s.noRange);
    if (!alive) this.fail(this.noSourceError());
  }

  private noSourceError(): FetchError {
    const causes = this.sources.map((s) => `${redactUrl(s.spec.url)}: ${s.reason}`);
    if (this.sources.every((s) => s.contradictsTrust)) {
      return new FetchError(ErrorCode.VerificationFailed, `verification failed: no source has the trusted content:\n  ${causes.join('\n  ')}`, { causes });
    }
    return new FetchError(ErrorCode.NoUsableSource, `no usable source left:\n  ${causes.join('\n  ')}`, { causes });
  }

  private async saveJournalNow(): Promise<void> {
    if (this.journalSaving || !this.pieces || !this.partFile) return;
    this.journalDirty = false;
    this.lastJournalAt = Date.now();
    const pieces = this.pieces;
    const done: number[] = [];
    const leaves: string[] = [];
    for (let i = 0; i < pieces.count; i++) {
      if (pieces.isDone(i)) {
        done.push(i);
        leaves.push(pieces.leaves[i]!.toString('hex'));
      }
    }
    this.journalSaving = (async () => {
      try {
        // The data must be durable before the journal says it is done.
        await this.partFile!.sync();
        await saveJournal(this.journalPath, { identity: this.journalIdentity(), done, leaves, savedAt: Date.now() });
      } catch (error) {
        this.log('info', `could not save the journal: ${(error as Error).message}`);
      } finally {
        this.journalSaving = undefined;
      }
    })();
    await this.journalSaving;
  }

  // ---------------------------------------------------------------- finish

  private async verifyAndPublish(): Promise<void> {
    this.setState('verifying');
    const pieces = this.pieces!;
    const expected = this.options.expected ?? {};
    // The data sync runs while the last bytes are hashed: the fsync before publishing then has
    // nothing left to write. (A failure is kept by the part file and reported by publish.)
    this.partFile!.flushInBackground();
    const hashing = this.prefixHasher!.finish();
    hashing.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    const rootNow = (): string => merkleRoot(pieces.leaves as Buffer[]).toString('hex');
    // The root is built on this thread while the hashing thread finishes the whole-file hash.
    let root = rootNow();
    let sha256 = await hashing;
    const wantedSha = expected.sha256?.toLowerCase() ?? this.headerSha256;
    const wantedRoot = expected.root?.toLowerCase();
    // One repair path for any whole-file commitment the bytes missed (a SHA-256, or a bare root).
    if (!pieces.checksEachPiece && ((wantedSha && wantedSha !== sha256) || (wantedRoot && wantedRoot !== root))) {
      sha256 = await this.repair(sha256, async (currentSha) => (!wantedSha || currentSha === wantedSha) && (!wantedRoot || rootNow() === wantedRoot));
      root = rootNow();
    }
    this.resultSha256 = sha256;
    this.resultRoot = root;
    if (expected.root && expected.root.toLowerCase() !== root) {
      throw new FetchError(ErrorCode.VerificationFailed, `verification failed: Merkle root ${root} differs from the expected ${expected.root.toLowerCase()}`);
    }
    if (wantedSha && wantedSha !== sha256) {
      throw new FetchError(ErrorCode.VerificationFailed, `verification failed: SHA-256 ${sha256} differs from the expected ${wantedSha}${expected.sha256 ? '' : " (announced in the primary's response headers)"}`);
    }
    this.verifiedBy = expected.root || expected.leaves ? 'merkle' : wantedSha ? 'sha256' : expected.pieceSha256 ? 'pieces' : 'consistency';
    await this.partFile!.publish(this.options.outputPath, this.options.overwrite === true);
    this.partFile = undefined;
    await Promise.all([this.writeManifestSidecar(sha256, root), fs.rm(this.journalPath, { force: true })]);
  }

  private resultSha256?: string;
  private resultRoot?: string;
  private repairReport?: RepairReport;

  /** The SHA-256 did not match: find the bad source and replace only its bad pieces. */
  private async repair(gotSha: string, matches: (sha256: string) => Promise<boolean>): Promise<string> {
    this.setState('repairing');
    this.log('repair', `the file (SHA-256 ${gotSha.slice(0, 16)}…) does not match its trusted hash; cross-checking pieces between sources`);
    let current = gotSha;
    const report = await repairFromSources({
      pieces: this.pieces!,
      partFile: this.partFile!,
      transport: this.transport,
      sources: this.sources,
      signal: this.controller.signal,
      checkSha256: async () => {
        await this.prefixHasher!.restart();
        current = await this.prefixHasher!.finish();
        return matches(current);
      },
      ban: (source, reason) => this.ban(source, reason),
      log: (message, source) => this.log('repair', message, source),
    });
    this.repairReport = report;
    this.bytesFetched += report.bytesFetched;
    this.log('repair', `${report.ok ? 'repaired' : 'could not repair'}: ${report.piecesReplaced.length} pieces replaced, ${report.bytesFetched} bytes fetched again`);
    this.setState('verifying');
    return current;
  }

  /** Keeps the verified leaves so a later resume or repair works block by block. */
  private async writeManifestSidecar(sha256: string, root: string): Promise<void> {
    const manifest = {
      format: 'artifact-fetch/manifest@1',
      name: path.basename(this.options.outputPath),
      size: this.size,
      pieceSize: this.pieceSize,
      hash: 'sha256',
      tree: 'rfc6962',
      root,
      sha256,
      leaves: this.pieces!.leaves.map((leaf) => leaf!.toString('hex')),
    };
    await writeStateFile(this.manifestPath, JSON.stringify(manifest, null, 2)).catch((error: Error) => {
      this.log('info', `could not keep the manifest sidecar: ${error.message}`);
    });
  }

  private async stopChannels(): Promise<void> {
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = undefined;
    for (const segment of this.planner?.active.values() ?? []) this.abortSegment(segment, 'job ending');
    this.wake();
    while (this.channelLoops.size > 0) {
      this.wake();
      await Promise.race([Promise.allSettled([...this.channelLoops]), sleep(50)]);
    }
  }

  private async cleanUp(): Promise<void> {
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    // The hashing thread winds down while the rest is cleaned up.
    const hasherClosed = this.prefixHasher?.close();
    this.controller.abort();
    await this.journalSaving;
    if (this.discard && this.lock) {
      // Only the lock holder may delete state: another process may be using these files.
      await this.partFile?.close();
      await fs.rm(this.partPath, { force: true });
      await fs.rm(this.journalPath, { force: true });
    } else if (this.partFile && this.pieces) {
      if (this.pieces.doneCount > 0) {
        this.journalDirty = true;
        await this.saveJournalNow();
      }
      await this.partFile.close();
    }
    if (this.earlyPart && this.lock) {
      // Created for a layout that never came (no source answered): nothing to resume from.
      const unused = await this.earlyPart.catch(() => undefined);
      if (unused) {
        await unused.close();
        await fs.rm(this.partPath, { force: true });
      }
    }
    await Promise.all([this.lock?.release(), this.transport.close(), hasherClosed]);
  }

  private result(): DownloadResult {
    const ok = this.state === 'completed';
    return {
      ok,
      path: this.options.outputPath,
      size: Math.max(0, this.size),
      sha256: this.resultSha256,
      root: this.resultRoot,
      pieceSize: this.pieceSize,
      seconds: (Date.now() - this.startedAt) / 1000,
      verifiedBy: this.verifiedBy,
      bytesFetched: this.bytesFetched,
      bytesResumed: this.bytesResumed,
      repair: this.repairReport
        ? { piecesReplaced: this.repairReport.piecesReplaced.length, bytesFetched: this.repairReport.bytesFetched, culprits: this.repairReport.culprits.map((id) => redactUrl(this.sources[id].spec.url)) }
        : undefined,
      sources: this.sources.map((s) => ({
        url: redactUrl(s.spec.url),
        state: s.state,
        bytes: Math.round(s.bytes),
        meanBytesPerSecond: Math.round(s.meanBytesPerSecond()),
        latencyMs: s.latencyMs,
        strikes: s.strikes,
        reason: redactText(s.reason),
      })),
      error: this.error ? { code: this.error.code, message: redactText(this.error.message) } : undefined,
    };
  }

  // ---------------------------------------------------------------- small helpers

  private fail(error: FetchError): void {
    if (this.fatal) return;
    this.fatal = error;
    this.controller.abort();
    for (const segment of this.planner?.active.values() ?? []) this.abortSegment(segment, error.message);
    this.settle();
    this.markReferenceReady();
  }

  private checkFatal(): void {
    if (this.fatal) throw this.fatal;
  }

  private isOver(): boolean {
    return this.fatal !== undefined || this.state === 'completed';
  }

  private msLeft(): number {
    return this.options.deadlineMs ? this.options.deadlineMs - (Date.now() - this.startedAt) : Infinity;
  }

  private setState(state: JobState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  private log(kind: JobEvent['kind'], message: string, source?: SourceRuntime): void {
    const event: JobEvent = {
      at: Date.now(),
      sourceId: source?.id,
      kind,
      message: redactText(source ? `[${source.id}] ${redactUrl(source.spec.url)}: ${message}` : message),
    };
    if (this.events.length < 2000) this.events.push(event);
    this.emit('event', event);
  }
}

const sleep = abortableSleep;

function clampInt(value: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.floor(value)));
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

export function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(bytesPerSecond < 1e6 ? 3 : 1)} MB/s`;
}

function formatList(items: number[]): string {
  const shown = items.slice(0, 8);
  const text = shown.length > 1 ? `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}` : String(shown[0]);
  return items.length > shown.length ? `${text} (+${items.length - shown.length} more)` : text;
}

/** `url` without `user:password@`. */
function withoutUserinfo(url: string): string {
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return url;
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}
