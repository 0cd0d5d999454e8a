/**
 * Runs one segment on one channel: a single validated ranged GET whose body is written at its
 * exact offsets, hashed per piece as it is committed, and cut off the moment the segment ends
 * (its end may shrink while it runs, when another channel steals the back part).
 *
 * Memory stays bounded: at most FLUSH_BYTES are buffered per channel before a positioned write,
 * and the next chunk is not read until that write finished (backpressure to the socket).
 */
import { createHash, type Hash } from 'node:crypto';
import { openDecodedBody } from './adapters/gzipSource';
import { discardBody, finishBody, TransportError } from './httpTransport';
import type { RangeBody, SourceTransport } from './sourceTransport';
import type { PartFile } from './partFile';
import type { PieceOutcome, PieceStore } from './pieceStore';
import type { RateLimiter } from './rateLimiter';
import type { ReceiveBuffers, SlotClaim } from './receiveBuffers';
import type { Segment } from './segmentPlanner';
import type { SourceRuntime } from './sourceRuntime';
import type { Readable } from 'node:stream';

/** Bytes buffered per channel before a write, at most (the segment's end also flushes). */
export const FLUSH_BYTES = 2 * 1024 * 1024;
/** At a piece boundary, a write happens once this much is buffered… */
const MIN_FLUSH_BYTES = 512 * 1024;
/** …or once this long has passed since the last write (slow channels). */
const MAX_FLUSH_DELAY_MS = 200;

export interface SegmentSink {
  transport: SourceTransport;
  pieces: PieceStore;
  partFile: PartFile;
  limiter: RateLimiter;
  size: number;
  /** The read slots the transport's sockets read into: the writer hands them back once written. */
  receiveBuffers?: ReceiveBuffers;
  /** Called for every chunk received (meters, progress). */
  onBytes(source: SourceRuntime, bytes: number, now: number): void;
  /** Called with the pieces a committed write completed (verification decides). */
  onPieces(outcomes: PieceOutcome[], segment: Segment): void;
  /** An endgame racer completed a piece first: write it if it is still needed. */
  commitRacedPiece(racer: Segment, index: number, buffers: Buffer[], leaf: Buffer): Promise<void>;
}

/**
 * Fetches `segment` from `source`. Resolves when the segment is complete, aborted or shrunk to
 * what was received; throws a TransportError when the source failed (the committed prefix stays).
 */
export async function fetchSegment(sink: SegmentSink, source: SourceRuntime, segment: Segment, opened?: OpenedBody): Promise<void> {
  const signal = segment.controller.signal;
  // Chosen before a ban or drop, sent after it: never ask a source that is out.
  if (signal.aborted || source.state === 'banned' || source.state === 'excluded') {
    if (opened) discardBody(opened.body);
    return;
  }
  // A source that ignores Range is read from byte 0 and the bytes before the segment skipped.
  const from = opened ? segment.received : source.noRange ? 0 : segment.received;
  // An encoded copy is decoded through its adapter, never to more than the artifact's size.
  const response = opened
    ? { status: 206, totalSize: sink.size, body: opened.body }
    : source.decodesWholeStream
    ? await openDecodedBody(sink.transport, source, { signal, limit: sink.size })
    : await sink.transport.getRange(source.effectiveUrl, from, source.noRange ? undefined : segment.end - 1, {
        proxy: source.spec.proxy,
        localAddress: source.spec.localAddress,
        signal,
        allowWhole: from === 0,
        expectedTotal: sink.size,
        // The copy must still be the one probed: a changed file answers 412 (or another ETag).
        ifMatch: source.validator,
      });
  let skip = segment.received - from;
  if (response.status === 200 && response.totalSize !== undefined && response.totalSize !== sink.size) {
    discardBody(response.body);
    throw new TransportError('changed', `the source now has ${response.totalSize} bytes, expected ${sink.size}`);
  }
  // Destroying a body we stopped reading emits 'error' (aborted): that is expected, not a crash.
  response.body.on('error', () => undefined);
  const writer = segment.racing ? new RaceBuffer(sink, segment) : new CommitWriter(sink, segment, source.id);
  let failure: unknown;
  const onChunk = async (whole: Buffer): Promise<boolean> => {
    let chunk = whole;
    if (skip > 0) {
      // Bytes before the segment (done pieces) are dropped, never written.
      const dropped = Math.min(skip, chunk.length);
      skip -= dropped;
      // Skipping is progress too: a whole-stream source is not stalled while it reaches the segment.
      segment.lastByteAt = Date.now();
      chunk = chunk.subarray(dropped);
      if (chunk.length === 0) return false;
    }
    const wanted = segment.end - segment.received;
    const piece = wanted < chunk.length ? chunk.subarray(0, Math.max(0, wanted)) : chunk;
    if (piece.length > 0) {
      const now = Date.now();
      segment.received += piece.length;
      segment.lastByteAt = now;
      sink.onBytes(source, piece.length, now);
      const flush = writer.push(piece);
      if (flush) await flush;
      if (sink.limiter.limited) await sink.limiter.take(piece.length, signal);
    }
    return segment.received >= segment.end;
  };
  try {
    let done = false;
    // An adopted response's first bytes were read already (by the probe): they go first.
    for (const chunk of opened?.received ?? []) {
      if (signal.aborted || (done = await onChunk(chunk))) break;
    }
    if (!done && !signal.aborted) await consumeBody(response.body, signal, onChunk);
  } catch (error) {
    failure = error;
  }
  let bodyEnded = false;
  if (failure === undefined && !signal.aborted && segment.received >= segment.end) bodyEnded = await finishBody(response.body);
  else discardBody(response.body);
  try {
    // Commit what arrived even when aborted: those bytes are valid and save a re-fetch.
    await writer.flush();
    // After the body's end no more of its bytes can come, so its last read slot is free too.
    if (bodyEnded) writer.releaseAll();
  } catch (error) {
    failure = error;
  }
  if (failure instanceof SinkError) throw failure.cause;
  if (failure && !signal.aborted) throw new TransportError('transient', `connection failed mid-body: ${(failure as Error).message}`);
  if (!signal.aborted && segment.received < segment.end) {
    throw new TransportError('transient', `body ended early: ${segment.received - segment.start} of ${segment.end - segment.start} bytes`);
  }
}

/**
 * A response already open at the segment's start (the reference's probe, read on as its first
 * segment): `received` holds the bytes read from it so far, `body` the rest.
 */
export interface OpenedBody {
  body: RangeBody;
  received: Buffer[];
}

/** Two channels claimed the same piece; the segment is dropped and its bytes re-planned. */
export class PlannerConflict extends Error {
  override readonly name = 'PlannerConflict';
}

/** A local write failed (disk full, permissions): not the source's fault, and fatal for the job. */
class SinkError extends Error {
  constructor(override readonly cause: unknown) {
    super('write failed');
  }
}

/**
 * Feeds a body's chunks to `onChunk` one at a time without an async iterator (whose promise per
 * chunk costs a third of the CPU at loopback speeds): the stream is paused while `onChunk` awaits.
 * Resolves at the end of the body, when `onChunk` returns true, or when `signal` aborts — always
 * after the last `onChunk` promise settled. (Exported for its tests.)
 */
export function consumeBody(body: Readable, signal: AbortSignal, onChunk: (chunk: Buffer) => Promise<boolean> | boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    // A stream may emit 'end' right after its last 'data', even while paused, and an error or an
    // abort may come while a chunk's write is still running: the segment must not end (and give
    // its uncommitted bytes back to the planner) before that write committed them.
    let processing = false;
    let ended = false;
    let deferred: { error?: unknown } | undefined;
    const settle = (error?: unknown): void => {
      if (settled) return;
      if (processing) {
        deferred ??= { error };
        return;
      }
      settled = true;
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      signal.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onEnd = (): void => {
      ended = true;
      settle();
    };
    const onError = (error: unknown): void => settle(error);
    const onAbort = (): void => settle();
    const onData = (chunk: Buffer): void => {
      if (settled) return;
      let result: Promise<boolean> | boolean;
      try {
        result = onChunk(chunk);
      } catch (error) {
        settle(error);
        return;
      }
      if (result === true) {
        settle();
      } else if (result !== false) {
        processing = true;
        body.pause();
        result.then(
          (done) => {
            processing = false;
            if (deferred) settle(deferred.error);
            else if (done || ended || signal.aborted) settle();
            else if (!settled) body.resume();
          },
          (error) => {
            processing = false;
            settle(error);
          },
        );
      }
    };
    if (signal.aborted) return settle();
    signal.addEventListener('abort', onAbort, { once: true });
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    // A body paused by an earlier reader (the probe that read its first bytes) flows again.
    if (body.isPaused()) body.resume();
  });
}

/**
 * Buffers received bytes and commits them: positioned write, then per-piece hashing.
 *
 * The chunks are views of the sockets' read slots (receiveBuffers.ts), and the writer hands a slot
 * back once its bytes are written and hashed. Bytes arrive in order, so once a chunk from a later
 * read arrived, every earlier slot of this body has given all its bytes. The latest chunk's slot
 * may still hold more: one read can carry several pieces of a chunked body, and undici puts the
 * rest of a read back when it pauses between them. That slot is kept until a later read's chunk
 * arrives or the body ends.
 */
class CommitWriter {
  private buffers: Buffer[] = [];
  private buffered = 0;
  private lastFlushAt = Date.now();
  /** Slots of the chunks received and not handed back, oldest first; the last is the latest chunk's. */
  private claims: SlotClaim[] = [];
  /** The latest chunk's slot claim (undefined when that chunk was not read into a slot). */
  private latestClaim: SlotClaim | undefined;

  constructor(private readonly sink: SegmentSink, private readonly segment: Segment, private readonly sourceId: number) {}

  /** Buffers a chunk; returns the flush to wait for when enough has accumulated. */
  push(chunk: Buffer): Promise<void> | undefined {
    this.buffers.push(chunk);
    this.buffered += chunk.length;
    const claim = this.sink.receiveBuffers?.claim(chunk);
    if (!claim) this.latestClaim = undefined;
    else if (!(claim.memory === this.latestClaim?.memory && claim.generation === this.latestClaim.generation)) {
      this.claims.push(claim);
      this.latestClaim = claim;
    }
    // Few large writes (each costs ~0.25 ms of this thread whatever its size), yet pieces are
    // committed and checked promptly: at a piece boundary once enough is buffered or enough time
    // has passed, and always at FLUSH_BYTES or the segment's end.
    if (this.buffered >= FLUSH_BYTES || this.segment.received >= this.segment.end) return this.flush();
    const pieces = this.sink.pieces;
    const crossedPiece = pieces.pieceOf(this.segment.received - 1) !== pieces.pieceOf(this.segment.cursor) || this.segment.received % pieces.pieceSize === 0;
    if (crossedPiece && (this.buffered >= MIN_FLUSH_BYTES || Date.now() - this.lastFlushAt >= MAX_FLUSH_DELAY_MS)) return this.flush();
    return undefined;
  }

  async flush(): Promise<void> {
    if (this.buffered === 0) return;
    this.lastFlushAt = Date.now();
    const buffers = this.buffers;
    const position = this.segment.cursor;
    this.buffers = [];
    this.buffered = 0;
    const length = buffers.reduce((sum, b) => sum + b.length, 0);
    // A verified piece is never written again, whoever asks: check before touching the disk.
    const pieces = this.sink.pieces;
    for (let index = pieces.pieceOf(position); index <= pieces.pieceOf(position + length - 1); index++) {
      if (pieces.isDone(index)) throw new SinkError(new PlannerConflict(`piece ${index} is already done`));
    }
    try {
      await this.sink.partFile.write(buffers, position);
    } catch (error) {
      throw new SinkError(error);
    }
    // Hash after the write succeeded, so a piece is only ever "done" with its bytes on disk.
    let outcomes;
    try {
      outcomes = this.sink.pieces.feed(position, buffers, this.sourceId);
    } catch (error) {
      // Our own bookkeeping disagreed (not the source's fault): drop this segment's claim.
      throw new SinkError(new PlannerConflict((error as Error).message));
    }
    this.segment.cursor = position + length;
    this.releaseWritten();
    if (outcomes.length > 0) this.sink.onPieces(outcomes, this.segment);
  }

  /** Hands back every slot whose bytes are all written: all but the latest chunk's. */
  private releaseWritten(): void {
    const pool = this.sink.receiveBuffers;
    if (!pool || this.claims.length === 0) return;
    const latest = this.latestClaim;
    const keep = latest && this.claims[this.claims.length - 1] === latest ? [latest] : [];
    for (const claim of this.claims) if (claim !== latest) pool.release(claim);
    this.claims = keep;
  }

  /** The body ended and everything is written: its last slot is free as well. */
  releaseAll(): void {
    if (this.buffered > 0) return;
    for (const claim of this.claims) this.sink.receiveBuffers?.release(claim);
    this.claims = [];
    this.latestClaim = undefined;
  }
}

/**
 * An endgame racer's bytes: kept in memory (at most one piece) and written only if this racer
 * completes a piece before the channel it races does.
 */
class RaceBuffer {
  private buffers: Buffer[] = [];
  private hash: Hash = newLeafHash();
  private pieceIndex: number;

  constructor(private readonly sink: SegmentSink, private readonly segment: Segment) {
    this.pieceIndex = sink.pieces.pieceOf(segment.start);
  }

  push(chunk: Buffer): Promise<void> | undefined {
    return this.consume(chunk);
  }

  private async consume(chunk: Buffer): Promise<void> {
    let rest = chunk;
    // After winning its piece the racer's end shrinks to it: the rest of the chunk is not its own.
    while (rest.length > 0 && this.segment.received - rest.length < this.segment.end) {
      const pieceEnd = this.sink.pieces.pieceEnd(this.pieceIndex);
      const position = this.segment.received - rest.length;
      const take = Math.min(rest.length, pieceEnd - position);
      const part = rest.subarray(0, take);
      this.buffers.push(part);
      this.hash.update(part);
      rest = rest.subarray(take);
      if (position + take === pieceEnd) {
        const leaf = this.hash.digest();
        const buffers = this.buffers;
        this.buffers = [];
        this.hash = newLeafHash();
        const index = this.pieceIndex++;
        if (!this.sink.pieces.isDone(index)) await this.sink.commitRacedPiece(this.segment, index, buffers, leaf);
        this.segment.cursor = pieceEnd;
      }
    }
  }

  async flush(): Promise<void> {
    // An unfinished racer piece is simply dropped: the raced channel still owns those bytes.
    this.buffers = [];
  }

  /** A racer hands no slots back (it is rare and short): the garbage collector frees them. */
  releaseAll(): void {}
}

function newLeafHash(): Hash {
  return createHash('sha256').update(Buffer.of(0));
}
