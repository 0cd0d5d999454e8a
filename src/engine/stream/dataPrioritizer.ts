/**
 * The data prioritizer: turns where the stream readers are into the byte ranges the planner
 * should fetch first. Each reader gets a window ahead of its position (a few seconds of the rate
 * it reads at, never less than a few MiB); a window that holds only verified pieces needs nothing
 * and is left out, so without a reader near the download front the planner keeps pure bulk order.
 */
import type { PieceStore } from '../pieceStore';
import type { UrgentRange } from '../segmentPlanner';

/**
 * Seconds of a reader's rate that the window ahead of it covers: about one segment's time on a
 * slow source (segments last ~1 s), so a slow segment placed past the window is in before the
 * reader gets there. A larger window would leave the slow sources idle and cost throughput.
 */
export const WINDOW_SECONDS = 2;
/** The smallest window: the first pieces of a reader that has not read anything yet. */
export const MIN_WINDOW_BYTES = 4 * 1024 * 1024;
/** The largest window, so one fast reader does not turn the whole file into "urgent". */
export const MAX_WINDOW_BYTES = 64 * 1024 * 1024;

/** What the prioritizer needs to know about one reader. */
export interface ReaderPosition {
  /** Next byte the reader will deliver. */
  position: number;
  /** Exclusive end of the reader's range. */
  end: number;
  /** Bytes per second the reader delivered recently (0 when it has not started). */
  bytesPerSecond: number;
  /** True while the reader is blocked on a piece that is not verified yet. */
  waiting: boolean;
}

/**
 * The urgent ranges for `readers`, most urgent first: blocked readers before those still
 * reading, then the reader whose first missing piece is closest to it.
 */
export function urgentRanges(readers: Iterable<ReaderPosition>, pieces: PieceStore): UrgentRange[] {
  const wanted: Array<{ range: UrgentRange; waiting: boolean; distance: number }> = [];
  for (const reader of readers) {
    if (reader.position >= reader.end) continue;
    const window = Math.min(MAX_WINDOW_BYTES, Math.max(MIN_WINDOW_BYTES, 2 * pieces.pieceSize, reader.bytesPerSecond * WINDOW_SECONDS));
    // Whole pieces: the planner splits its open ranges at these bounds.
    const windowEnd = Math.min(pieces.size, pieces.alignUp(Math.min(reader.end, reader.position + Math.ceil(window))));
    const firstMissing = firstMissingPiece(pieces, reader.position, windowEnd);
    if (firstMissing === undefined) continue;
    const start = pieces.pieceStart(firstMissing);
    wanted.push({ range: { start, end: windowEnd }, waiting: reader.waiting, distance: start - reader.position });
  }
  wanted.sort((a, b) => Number(b.waiting) - Number(a.waiting) || a.distance - b.distance);
  return wanted.map((w) => w.range);
}

/** Index of the first piece in [start, end) that is not done, or undefined when all are. */
function firstMissingPiece(pieces: PieceStore, start: number, end: number): number | undefined {
  if (end <= start) return undefined;
  const last = pieces.pieceOf(end - 1);
  for (let index = pieces.pieceOf(start); index <= last; index++) {
    if (!pieces.isDone(index)) return index;
  }
  return undefined;
}
