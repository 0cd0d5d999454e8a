/**
 * Decides which bytes each channel fetches next.
 *
 * The file's missing bytes are a sorted list of open ranges. Ahead of the channels, the planner
 * lays slots out in file order following the allocation pattern (so sources interleave evenly
 * and in proportion to their throughput), each slot sized to last about the same time on its
 * source. A channel takes its source's earliest slot. When nothing is open, an idle channel
 * steals the back part of the segment with the longest expected time left; when nothing can be
 * split any more (the last piece of a segment), it races a duplicate of that tail.
 */
import type { AllocationPattern } from './allocationPattern';
import type { PieceStore } from './pieceStore';

/** A run of bytes given to one channel in one request. `end` is a piece boundary (or the file end). */
export interface Segment {
  id: number;
  sourceId: number;
  start: number;
  /** Exclusive; may shrink while running when another channel steals the back part. */
  end: number;
  /** Bytes received from the network so far (the next byte expected is `received`). */
  received: number;
  /** Bytes written and hashed; everything before it is committed. */
  cursor: number;
  /** An endgame duplicate of another segment's tail; it buffers its bytes until it wins. */
  racing: boolean;
  /** For a racer: the segment it races. */
  raced?: Segment;
  /** Set when a racer targets this segment, so only one races it. */
  racedBy?: Segment;
  readonly controller: AbortController;
  abortReason?: string;
  startedAt: number;
  lastByteAt: number;
}

interface OpenRange {
  start: number;
  end: number;
  /** Source the slot is laid out for (a soft reservation), or undefined. */
  tag?: number;
}

/** Rates the planner needs to size and compare work, per source. */
export interface RateModel {
  /** Expected bytes/s of one channel of the source (0 when unmeasured). */
  channelRate(sourceId: number): number;
  /** Bytes one new segment of this source should hold. */
  segmentBytes(sourceId: number, openBytes: number): number;
  latencyMs(sourceId: number): number;
  /**
   * Sources that can take work right now (for the urgent-work choice). Without it, every source
   * that asks may take urgent bytes.
   */
  workingSources?(): number[];
  /** Bytes/s of the whole job now (0 when unmeasured); without it, segments are never taken from the back. */
  totalRate?(): number;
}

/** Bytes a reader of the stream needs next, in priority order (see `setUrgentRanges`). */
export interface UrgentRange {
  start: number;
  /** Exclusive. */
  end: number;
}

/**
 * Another source must be expected to deliver an urgent piece this many times sooner before the
 * asking source is passed over (equal sources share urgent work; noise does not flip the choice).
 */
const URGENT_MARGIN = 1.5;
/**
 * Urgent bytes are taken from a running segment only when its source would need longer than this
 * to reach them: each steal cuts a request short (the bytes in flight are lost), which only pays
 * off against a really slow channel.
 */
const URGENT_STEAL_MIN_SECONDS = 0.5;
/**
 * A race already run by a slower channel is taken over only by a channel expected to finish it this
 * many times sooner (each takeover throws away the bytes the first racer received).
 */
const RACE_TAKEOVER_MARGIN = 2;

export class SegmentPlanner {
  private open: OpenRange[] = [];
  readonly active = new Map<number, Segment>();
  private nextId = 1;
  private urgent: UrgentRange[] = [];

  constructor(private readonly pieces: PieceStore, private readonly pattern: AllocationPattern, private readonly rates: RateModel) {}

  /** (Re)builds the open ranges from the pieces that are not done. */
  reset(): void {
    this.open = this.pieces.missingRanges().map((r) => ({ start: r.start, end: r.end }));
  }

  get openBytes(): number {
    return this.open.reduce((sum, r) => sum + (r.end - r.start), 0);
  }

  get hasOpenWork(): boolean {
    return this.open.length > 0;
  }

  /**
   * Drops slot reservations (the pattern changed, or a source stopped working), so no bytes wait
   * for a source that will not come; slots are laid out again lazily.
   */
  clearReservations(sourceId?: number): void {
    for (const range of this.open) if (sourceId === undefined || range.tag === sourceId) range.tag = undefined;
    this.mergeOpen();
  }

  /**
   * The next segment for a channel of `sourceId`, or undefined when no open bytes are left.
   * `wholeOnly`: the source cannot serve ranges, so it may only take a run starting at byte 0.
   */
  take(sourceId: number, now: number, wholeOnly = false): Segment | undefined {
    if (this.urgent.length > 0 && !wholeOnly) return this.takeAroundUrgent(sourceId, now);
    for (let attempt = 0; attempt < 64 && this.open.length > 0; attempt++) {
      const segment = this.takeOnce(sourceId, now, wholeOnly);
      if (segment) return segment;
    }
    return undefined;
  }

  /**
   * A segment of exactly [start, end) for `sourceId` (its request is already on the way), or
   * undefined unless every byte of it is open and no piece of it is done.
   */
  claim(sourceId: number, start: number, end: number, now: number): Segment | undefined {
    if (end <= start || !this.open.some((range) => range.start <= start && end <= range.end)) return undefined;
    for (let index = this.pieces.pieceOf(start); index <= this.pieces.pieceOf(end - 1); index++) {
      if (this.pieces.isDone(index)) return undefined;
    }
    this.removeOpen(start, end);
    return this.createSegment(sourceId, start, end, now);
  }

  /**
   * Bytes a stream reader waits for (the data prioritizer's window ahead of each reader), most
   * urgent first; an empty list restores pure bulk order. While set, `take` hands open bytes in
   * these ranges first, and only to a source expected to deliver a piece about as soon as any
   * (latency + piece time, counting the wait for its busy channels); other sources take bulk work
   * outside them, so a slow source never holds the reader's next piece.
   */
  setUrgentRanges(ranges: UrgentRange[]): void {
    // Whole pieces only: open ranges are split at these bounds, and every split must stay on a
    // piece boundary (a fractional or mid-piece bound would become a bogus Range request).
    this.urgent = ranges
      .map((r) => ({ start: this.pieces.pieceStart(this.pieces.pieceOf(Math.max(0, r.start))), end: this.pieces.alignUp(Math.min(this.pieces.size, r.end)) }))
      .filter((r) => r.end > r.start);
  }

  private takeAroundUrgent(sourceId: number, now: number): Segment | undefined {
    if (this.deliversUrgentSoonest(sourceId)) {
      const urgent = this.takeUrgent(sourceId, now) ?? this.stealUrgent(sourceId, now);
      if (urgent) return urgent;
    }
    // Bulk work, with the urgent bytes held back from this source.
    const held: UrgentRange[] = [];
    for (const range of this.urgent) {
      for (const open of this.open) {
        const start = Math.max(open.start, range.start);
        const end = Math.min(open.end, range.end);
        if (start < end) held.push({ start, end });
      }
    }
    for (const range of held) this.removeOpen(range.start, range.end);
    try {
      for (let attempt = 0; attempt < 64 && this.open.length > 0; attempt++) {
        const segment = this.takeOnce(sourceId, now, false);
        if (segment) return segment;
      }
      return undefined;
    } finally {
      for (const range of held) this.addOpen(range.start, range.end);
    }
  }

  /** The first open bytes of the most urgent range, as a segment for `sourceId`. */
  private takeUrgent(sourceId: number, now: number): Segment | undefined {
    for (const range of this.urgent) {
      for (let index = 0; index < this.open.length; index++) {
        const open = this.open[index];
        const start = Math.max(open.start, this.pieces.pieceStart(this.pieces.pieceOf(range.start)));
        const end = Math.min(open.end, this.pieces.alignUp(range.end));
        if (start >= end) continue;
        if (start > open.start) {
          // Keep the bytes before the urgent part as they were (with their reservation).
          this.open.splice(index, 0, { start: open.start, end: start, tag: open.tag });
          index++;
          open.start = start;
        }
        open.tag = undefined;
        const segment = this.cut(index, Math.min(this.rates.segmentBytes(sourceId, this.openBytes), end - start), sourceId, now);
        if (segment) return segment;
        index = -1; // cut() dropped a done-only range: scan again
      }
    }
    return undefined;
  }

  /**
   * No urgent byte is open, but a slower source's running segment holds some: the part after its
   * current piece moves to `sourceId` when that delivers it sooner than the victim would reach it.
   */
  private stealUrgent(sourceId: number, now: number): Segment | undefined {
    const mySeconds = this.pieceSeconds(sourceId);
    if (mySeconds === undefined) return undefined;
    for (const range of this.urgent) {
      for (const victim of this.active.values()) {
        if (victim.racing || victim.sourceId === sourceId || victim.controller.signal.aborted) continue;
        const split = Math.max(this.pieces.pieceEnd(this.pieces.pieceOf(victim.received)), this.pieces.pieceStart(this.pieces.pieceOf(range.start)));
        const urgentEnd = Math.min(victim.end, this.pieces.alignUp(range.end));
        if (split >= urgentEnd) continue;
        const victimRate = this.rates.channelRate(victim.sourceId);
        const victimSeconds = victimRate > 0 ? (split - victim.received) / victimRate : Infinity;
        if (victimSeconds < URGENT_STEAL_MIN_SECONDS || mySeconds * URGENT_MARGIN >= victimSeconds) continue;
        const stolen = this.createSegment(sourceId, split, urgentEnd, now);
        const oldEnd = victim.end;
        victim.end = split;
        // What lay beyond the urgent window is nobody's now: it goes back to the open bytes.
        if (urgentEnd < oldEnd) this.addOpen(urgentEnd, oldEnd);
        return stolen;
      }
    }
    return undefined;
  }

  /**
   * True when no other working source is expected to deliver one piece clearly sooner than
   * `sourceId` would (an unmeasured source counts as soonest only when no source is measured).
   */
  private deliversUrgentSoonest(sourceId: number): boolean {
    const others = this.rates.workingSources?.().filter((id) => id !== sourceId) ?? [];
    const mine = this.pieceSeconds(sourceId);
    for (const other of others) {
      const theirs = this.pieceSeconds(other);
      if (theirs === undefined) continue;
      if (mine === undefined) return false;
      let busyFor = Infinity;
      let segments = 0;
      for (const segment of this.active.values()) {
        if (segment.sourceId !== other || segment.racing) continue;
        segments++;
        busyFor = Math.min(busyFor, this.expectedSecondsLeft(segment));
      }
      if (segments === 0) busyFor = 0;
      if ((busyFor + theirs) * URGENT_MARGIN < mine) return false;
    }
    return true;
  }

  private overlapsUrgent(start: number, end: number): boolean {
    return this.urgent.some((range) => range.start < end && start < range.end);
  }

  /** Expected seconds until one new piece from `sourceId` is in: latency plus transfer time. */
  private pieceSeconds(sourceId: number): number | undefined {
    const rate = this.rates.channelRate(sourceId);
    if (rate <= 0) return undefined;
    return this.rates.latencyMs(sourceId) / 1000 + this.pieces.pieceSize / rate;
  }

  private takeOnce(sourceId: number, now: number, wholeOnly: boolean): Segment | undefined {
    if (this.open.length === 0) return undefined;
    if (wholeOnly) {
      // A source without Range support streams from byte 0; the fetcher skips what lies before
      // the first open byte, so it can fill any gap, also after a resume. It takes the whole
      // contiguous run (slot boundaries are only soft reservations): every new request would
      // stream from byte 0 again, and ranged channels steal the run's tail when they go idle.
      let last = 0;
      while (last + 1 < this.open.length && this.open[last].end === this.open[last + 1].start) last++;
      if (last > 0) {
        this.open[0].end = this.open[last].end;
        this.open.splice(1, last);
      }
      this.open[0].tag = undefined;
      return this.cut(0, this.open[0].end - this.open[0].start, sourceId, now);
    }
    const openBytes = this.openBytes;
    if (this.finishesLast(sourceId, openBytes)) return this.takeFromBack(sourceId, openBytes, now);
    let index = this.open.findIndex((r) => r.tag === sourceId);
    if (index < 0) index = this.layOutUntil(sourceId, openBytes);
    if (index < 0) index = this.open.findIndex((r) => r.tag === undefined);
    if (index < 0) index = 0; // only other sources' slots are left: reservations are soft
    return this.cut(index, this.rates.segmentBytes(sourceId, openBytes), sourceId, now);
  }

  /**
   * True when one piece from `sourceId` would take longer than the whole job needs for the open
   * bytes: whatever it takes now completes last. Its pieces then come from the back of the file,
   * so the pieces before them complete in file order and the whole-file hash, which can only
   * follow the contiguous done prefix, is not left with tens of MB to read once the last piece
   * is in.
   */
  private finishesLast(sourceId: number, openBytes: number): boolean {
    const total = this.rates.totalRate?.() ?? 0;
    const mine = this.pieceSeconds(sourceId);
    return total > 0 && mine !== undefined && openBytes / total < mine;
  }

  /** A segment of whole pieces cut from the end of the last open range. */
  private takeFromBack(sourceId: number, openBytes: number, now: number): Segment | undefined {
    for (let index = this.open.length - 1; index >= 0; index--) {
      const range = this.open[index];
      let end = range.end;
      // Done pieces never belong in a segment (a racer may have completed them meanwhile).
      while (end > range.start && this.pieces.isDone(this.pieces.pieceOf(end - 1))) end = this.pieces.pieceStart(this.pieces.pieceOf(end - 1));
      if (end <= range.start) {
        this.open.splice(index, 1);
        continue;
      }
      const bytes = Math.max(1, this.rates.segmentBytes(sourceId, openBytes));
      const start = Math.max(range.start, this.pieces.pieceStart(this.pieces.pieceOf(Math.max(range.start, end - bytes))));
      const segment = this.createSegment(sourceId, start, end, now);
      this.removeOpen(start, range.end);
      return segment;
    }
    return undefined;
  }

  /** Lays out slots following the pattern until `sourceId` gets one; returns its index or -1. */
  private layOutUntil(sourceId: number, openBytes: number): number {
    const attempts = Math.max(this.pattern.round.length, 1) + 1;
    for (let i = 0; i < attempts; i++) {
      const index = this.open.findIndex((r) => r.tag === undefined);
      if (index < 0) return -1;
      const owner = this.pattern.next() ?? sourceId;
      const range = this.open[index];
      const end = this.alignedEnd(range, this.rates.segmentBytes(owner, openBytes));
      if (end < range.end) this.open.splice(index + 1, 0, { start: end, end: range.end });
      range.end = end;
      range.tag = owner;
      if (owner === sourceId) return index;
    }
    return -1;
  }

  private alignedEnd(range: OpenRange, bytes: number): number {
    const wanted = this.pieces.alignUp(range.start + Math.max(1, bytes));
    return Math.min(range.end, Math.max(wanted, Math.min(range.end, this.pieces.alignUp(range.start + 1))));
  }

  private cut(index: number, bytes: number, sourceId: number, now: number): Segment | undefined {
    const range = this.open[index];
    // Done pieces never belong in a segment (a racer may have completed them meanwhile).
    while (range.start < range.end && this.pieces.isDone(this.pieces.pieceOf(range.start))) {
      range.start = this.pieces.pieceEnd(this.pieces.pieceOf(range.start));
    }
    if (range.start >= range.end) {
      this.open.splice(index, 1);
      return undefined;
    }
    const end = this.alignedEnd(range, bytes);
    const segment = this.createSegment(sourceId, range.start, end, now);
    if (end >= range.end) this.open.splice(index, 1);
    else range.start = end;
    return segment;
  }

  private createSegment(sourceId: number, start: number, end: number, now: number, racing = false): Segment {
    const segment: Segment = {
      id: this.nextId++,
      sourceId,
      start,
      end,
      received: start,
      cursor: start,
      racing,
      controller: new AbortController(),
      startedAt: now,
      lastByteAt: now,
    };
    this.active.set(segment.id, segment);
    return segment;
  }

  /**
   * Splits the active segment with the longest expected time left so an idle channel of
   * `sourceId` takes its back part. The split follows both channels' rates so they finish
   * together (the back half when the rates are equal). Undefined when nothing is worth splitting.
   */
  steal(sourceId: number, now: number): Segment | undefined {
    const thiefRate = Math.max(1, this.rates.channelRate(sourceId));
    // A source passed over for urgent work does not steal it either.
    const guarded = this.urgent.length > 0 && !this.deliversUrgentSoonest(sourceId);
    // Only segments with more than the piece in progress left can be split.
    const victim = this.slowestSegment((segment) => !segment.racing && this.pieces.pieceEnd(this.pieces.pieceOf(segment.received)) < segment.end
      && !(guarded && this.overlapsUrgent(segment.received, segment.end)));
    if (!victim) return undefined;
    const longest = this.expectedSecondsLeft(victim);
    // Not worth a new request if the victim will be done before the thief's first byte arrives.
    if (longest * 1000 < this.rates.latencyMs(sourceId) * 2 + 50) return undefined;
    const victimRate = Math.max(1, this.rates.channelRate(victim.sourceId));
    const remaining = victim.end - victim.received;
    const thiefShare = thiefRate / (thiefRate + victimRate);
    const firstKept = this.pieces.pieceEnd(this.pieces.pieceOf(victim.received));
    let split = this.pieces.alignUp(victim.end - remaining * thiefShare);
    split = Math.max(split, firstKept);
    if (split >= victim.end) return undefined;
    const stolen = this.createSegment(sourceId, split, victim.end, now);
    victim.end = split;
    return stolen;
  }

  /**
   * Endgame: a duplicate of the tail (at most one piece) of the running segment expected to finish
   * last, for an idle channel expected to finish it sooner. The racer buffers; whoever completes
   * first wins. A segment is raced by one channel at a time, but a clearly faster channel takes a
   * race over from a slower racer (which is aborted): the first channel to go idle at the end is
   * often a slow one, and the tail would otherwise wait for it.
   */
  race(sourceId: number, now: number): Segment | undefined {
    const thiefRate = Math.max(1, this.rates.channelRate(sourceId));
    const thiefLatency = this.rates.latencyMs(sourceId) / 1000;
    let best: { victim: Segment; start: number; left: number } | undefined;
    for (const victim of this.active.values()) {
      if (victim.racing || victim.sourceId === sourceId || victim.controller.signal.aborted) continue;
      const racer = victim.racedBy;
      if (racer && racer.sourceId === sourceId) continue;
      const pieceIndex = this.pieces.pieceOf(victim.received >= victim.end ? victim.end - 1 : victim.received);
      const start = this.pieces.pieceStart(pieceIndex);
      // Only a single last piece is raced; anything longer is split by steal() instead.
      if (victim.end - start > this.pieces.pieceSize) continue;
      const thiefSeconds = (victim.end - start) / thiefRate + thiefLatency;
      // When it is done: its own channel or its racer, whichever is expected first.
      const left = Math.min(this.expectedSecondsLeft(victim), racer ? this.expectedSecondsLeft(racer) + this.startDelay(racer) : Infinity);
      const margin = racer ? RACE_TAKEOVER_MARGIN : 1;
      if (thiefSeconds * margin >= left) continue;
      if (!best || left > best.left) best = { victim, start, left };
    }
    if (!best) return undefined;
    const { victim, start } = best;
    const displaced = victim.racedBy;
    if (displaced) {
      displaced.abortReason = 'a faster channel races this piece';
      displaced.controller.abort();
    }
    const racer = this.createSegment(sourceId, start, victim.end, now, true);
    racer.raced = victim;
    victim.racedBy = racer;
    return racer;
  }

  /** Seconds until a segment that has not received a byte yet can expect its first one. */
  private startDelay(segment: Segment): number {
    return segment.received === segment.start ? this.rates.latencyMs(segment.sourceId) / 1000 : 0;
  }

  /** The running segment with the longest expected time left among those `eligible` accepts. */
  private slowestSegment(eligible: (segment: Segment) => boolean): Segment | undefined {
    let slowest: Segment | undefined;
    let longest = 0;
    for (const segment of this.active.values()) {
      if (!eligible(segment)) continue;
      const left = this.expectedSecondsLeft(segment);
      if (left > longest) {
        longest = left;
        slowest = segment;
      }
    }
    return slowest;
  }

  expectedSecondsLeft(segment: Segment): number {
    const rate = this.rates.channelRate(segment.sourceId);
    const left = segment.end - segment.received;
    if (rate <= 0) return left > 0 ? 3600 : 0;
    return left / rate;
  }

  /**
   * Ends a segment: whatever it did not commit goes back to the open ranges, at the exact byte
   * where it stopped. A racer gives nothing back (its victim still owns the bytes).
   */
  release(segment: Segment): void {
    this.active.delete(segment.id);
    if (segment.racing) {
      if (segment.raced && segment.raced.racedBy === segment) segment.raced.racedBy = undefined;
      return;
    }
    if (segment.racedBy) segment.racedBy.raced = undefined;
    if (segment.cursor < segment.end) this.addOpen(segment.cursor, segment.end);
  }

  /**
   * Puts bytes back into the open ranges (a piece that failed verification, a released tail).
   * The open ranges are a set of bytes: adding bytes that are already open never duplicates them,
   * so no byte can be handed to two channels.
   */
  addOpen(start: number, end: number): void {
    if (end <= start) return;
    this.removeOpen(start, end);
    let index = this.open.findIndex((r) => r.start >= start);
    if (index < 0) index = this.open.length;
    this.open.splice(index, 0, { start, end });
    this.mergeOpen();
  }

  /** Removes bytes from the open ranges (a racer completed them). */
  removeOpen(start: number, end: number): void {
    const next: OpenRange[] = [];
    for (const range of this.open) {
      if (range.end <= start || range.start >= end) { next.push(range); continue; }
      if (range.start < start) next.push({ start: range.start, end: start, tag: range.tag });
      if (range.end > end) next.push({ start: end, end: range.end, tag: range.tag });
    }
    this.open = next;
  }

  private mergeOpen(): void {
    const merged: OpenRange[] = [];
    for (const range of this.open) {
      const last = merged[merged.length - 1];
      if (last && last.end === range.start && last.tag === range.tag) last.end = range.end;
      else merged.push(range);
    }
    this.open = merged;
  }
}
