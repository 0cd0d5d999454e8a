/**
 * Runs one segment on one channel: a single validated ranged GET whose body is written at its
 * exact offsets, hashed per piece as it is committed, and cut off the moment the segment ends
 * (its end may shrink while it runs, when another channel steals the back part).
 *
 * Memory stays bounded: at most FLUSH_BYTES are buffered per channel before a positioned write,
 * and the next chunk is not read until that write finished (backpressure to the socket).
 */
import { createHash, type Hash } from 'node:crypto';
import { TransportError, type HttpTransport } from './httpTransport';
import type { PartFile } from './partFile';
import type { PieceOutcome, PieceStore } from './pieceStore';
import type { RateLimiter } from './rateLimiter';
import type { Segment } from './segmentPlanner';
import type { SourceRuntime } from './sourceRuntime';

/** Bytes buffered per channel before a write (a piece boundary also flushes). */
export const FLUSH_BYTES = 1024 * 1024;

export interface SegmentSink {
  transport: HttpTransport;
  pieces: PieceStore;
  partFile: PartFile;
  limiter: RateLimiter;
  size: number;
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
export async function fetchSegment(sink: SegmentSink, source: SourceRuntime, segment: Segment): Promise<void> {
  const signal = segment.controller.signal;
  const response = await sink.transport.getRange(source.effectiveUrl, segment.received, segment.end - 1, {
    proxy: source.spec.proxy,
    signal,
    allowWhole: source.noRange && segment.received === 0,
    expectedTotal: sink.size,
  });
  if (response.status === 200 && response.totalSize !== undefined && response.totalSize !== sink.size) {
    response.body.destroy();
    throw new TransportError('changed', `the source now has ${response.totalSize} bytes, expected ${sink.size}`);
  }
  const writer = segment.racing ? new RaceBuffer(sink, segment) : new CommitWriter(sink, segment, source.id);
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      if (signal.aborted) break;
      const wanted = segment.end - segment.received;
      const piece = wanted < chunk.length ? chunk.subarray(0, Math.max(0, wanted)) : chunk;
      if (piece.length > 0) {
        const now = Date.now();
        segment.received += piece.length;
        segment.lastByteAt = now;
        sink.onBytes(source, piece.length, now);
        await writer.push(piece);
        if (sink.limiter.limited) await sink.limiter.take(piece.length, signal);
      }
      if (segment.received >= segment.end) break;
    }
  } catch (error) {
    if (!signal.aborted) throw new TransportError('transient', `connection failed mid-body: ${(error as Error).message}`);
  } finally {
    response.body.destroy();
    // Commit what arrived even when aborted: those bytes are valid and save a re-fetch.
    await writer.flush();
  }
  if (!signal.aborted && segment.received < segment.end) {
    throw new TransportError('transient', `body ended early: ${segment.received - segment.start} of ${segment.end - segment.start} bytes`);
  }
}

/** Buffers received bytes and commits them: positioned write, then per-piece hashing. */
class CommitWriter {
  private buffers: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly sink: SegmentSink, private readonly segment: Segment, private readonly sourceId: number) {}

  async push(chunk: Buffer): Promise<void> {
    this.buffers.push(chunk);
    this.buffered += chunk.length;
    const pieceEnd = this.sink.pieces.pieceEnd(this.sink.pieces.pieceOf(this.segment.cursor));
    if (this.buffered >= FLUSH_BYTES || this.segment.received >= pieceEnd || this.segment.received >= this.segment.end) {
      await this.flush();
    }
  }

  async flush(): Promise<void> {
    if (this.buffered === 0) return;
    const buffers = this.buffers;
    const position = this.segment.cursor;
    this.buffers = [];
    this.buffered = 0;
    const length = buffers.reduce((sum, b) => sum + b.length, 0);
    await this.sink.partFile.write(buffers, position);
    // Hash after the write succeeded, so a piece is only ever "done" with its bytes on disk.
    const outcomes = this.sink.pieces.feed(position, buffers, this.sourceId);
    this.segment.cursor = position + length;
    if (outcomes.length > 0) this.sink.onPieces(outcomes, this.segment);
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

  async push(chunk: Buffer): Promise<void> {
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
}

function newLeafHash(): Hash {
  return createHash('sha256').update(Buffer.of(0));
}
