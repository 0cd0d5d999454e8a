/**
 * The cost cap: sources with a cost above 0 may carry at most a share of the artifact's bytes
 * (`JobOptions.maxExpensiveShare`) while a free source is still usable, so cheap sources carry
 * what they can keep up with and paid ones only top up. Two levers: the allocation pattern gives
 * expensive sources at most that share of its slots, and a hard byte budget (counting what they
 * received plus what they hold in flight) stops them taking, stealing or racing beyond it.
 */
import type { PieceStore } from '../pieceStore';
import type { Segment } from '../segmentPlanner';
import type { SourceRuntime } from '../sourceRuntime';

/** A source whose bytes cost something (cost > 0). */
export function isExpensive(source: SourceRuntime): boolean {
  return source.cost > 0;
}

/**
 * Scales the expensive sources' pattern weights down so that together they hold at most `share`
 * of the total. Without a free source in the pattern there is nothing to prefer: weights stay.
 */
export function capExpensiveWeights(weights: Map<number, number>, expensive: (id: number) => boolean, share: number): Map<number, number> {
  if (share >= 1) return weights;
  let cheapWeight = 0;
  let expensiveWeight = 0;
  for (const [id, weight] of weights) {
    if (expensive(id)) expensiveWeight += weight;
    else cheapWeight += weight;
  }
  if (cheapWeight <= 0 || expensiveWeight <= 0) return weights;
  // expensive' / (cheap + expensive') = share  ⇔  expensive' = cheap · share / (1 − share)
  const allowed = share <= 0 ? 0 : (cheapWeight * share) / (1 - share);
  if (expensiveWeight <= allowed) return weights;
  const factor = allowed / expensiveWeight;
  const capped = new Map<number, number>();
  for (const [id, weight] of weights) capped.set(id, expensive(id) ? weight * factor : weight);
  return capped;
}

/**
 * Bytes expensive sources may still be given: the cap minus what they received and what their
 * running segments (other than `except`) still hold.
 */
export function expensiveBytesLeft(share: number, size: number, sources: readonly SourceRuntime[], active: Iterable<Segment>, except?: Segment): number {
  let committed = 0;
  for (const source of sources) if (isExpensive(source)) committed += source.bytesReceived;
  for (const segment of active) {
    if (segment === except || !isExpensive(sources[segment.sourceId])) continue;
    committed += Math.max(0, segment.end - segment.received);
  }
  return Math.floor(share * size) - committed;
}

/**
 * Makes a freshly taken segment of an expensive source fit `bytesLeft`: cut back to a piece
 * boundary (the tail is returned for the caller to re-open), or refused when not even its first
 * piece fits. A racer (a one-piece duplicate) fits whole or not at all.
 */
export function fitSegmentToBudget(segment: Segment, bytesLeft: number, pieces: PieceStore): { fits: boolean; reopen?: { start: number; end: number } } {
  const length = segment.end - segment.received;
  if (length <= bytesLeft) return { fits: true };
  if (segment.racing) return { fits: false };
  const firstPieceEnd = Math.min(segment.end, pieces.pieceEnd(pieces.pieceOf(segment.received)));
  if (firstPieceEnd - segment.received > bytesLeft) return { fits: false };
  // The last piece boundary within the budget (length > bytesLeft, so this lies inside the file).
  const end = Math.max(firstPieceEnd, pieces.pieceStart(pieces.pieceOf(segment.received + bytesLeft)));
  const reopen = { start: end, end: segment.end };
  segment.end = end;
  return { fits: true, reopen };
}
