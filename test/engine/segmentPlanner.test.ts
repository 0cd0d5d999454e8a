import * as assert from 'node:assert/strict';
import { AllocationPattern } from '../../src/engine/allocationPattern';
import { PieceStore } from '../../src/engine/pieceStore';
import { SegmentPlanner, type RateModel, type Segment } from '../../src/engine/segmentPlanner';

const P = 64 * 1024;

/** A rate model the test controls: per-source channel rate, segment size and latency. */
class FakeRates implements RateModel {
  rates = new Map<number, number>();
  sizes = new Map<number, number>();
  latency = new Map<number, number>();
  channelRate(id: number): number {
    return this.rates.get(id) ?? 0;
  }
  segmentBytes(id: number): number {
    return this.sizes.get(id) ?? 2 * P;
  }
  latencyMs(id: number): number {
    return this.latency.get(id) ?? 10;
  }
  total = 0;
  totalRate(): number {
    return this.total;
  }
}

function setup(size: number, weights: Array<[number, number]>, roundLength?: number) {
  const pieces = new PieceStore(size, P);
  const pattern = new AllocationPattern();
  pattern.recompute(new Map(weights), roundLength ?? weights.reduce((s, [, w]) => s + w, 0));
  const rates = new FakeRates();
  const planner = new SegmentPlanner(pieces, pattern, rates);
  planner.reset();
  return { pieces, pattern, rates, planner };
}

function span(segment: Segment | undefined): [number, number] {
  assert.ok(segment, 'expected a segment');
  return [segment.start, segment.end];
}

describe('engine: SegmentPlanner', () => {
  it('cuts segments of whole pieces: every end is piece-aligned (or the file end), none overlap', () => {
    const size = 37 * P + 1234; // last piece is short
    const { planner, rates } = setup(size, [[0, 3], [1, 2], [2, 1]]);
    rates.sizes.set(0, 3.3 * P).set(1, 1.1 * P).set(2, 5);
    const taken: Segment[] = [];
    for (let i = 0; i < 200 && planner.hasOpenWork; i++) {
      const segment = planner.take(i % 3, 0);
      assert.ok(segment);
      taken.push(segment);
    }
    assert.equal(planner.hasOpenWork, false);
    assert.equal(planner.openBytes, 0);
    const sorted = [...taken].sort((a, b) => a.start - b.start);
    let position = 0;
    for (const segment of sorted) {
      assert.equal(segment.start, position, 'segments tile the file without gaps or overlaps');
      assert.ok(segment.end > segment.start);
      assert.ok(segment.end % P === 0 || segment.end === size, `end ${segment.end} not piece-aligned`);
      assert.equal(segment.start % P, 0, 'a fresh file hands out piece-aligned starts');
      assert.equal(segment.cursor, segment.start);
      assert.equal(segment.received, segment.start);
      assert.equal(segment.racing, false);
      position = segment.end;
    }
    assert.equal(position, size);
    // Sizes follow segmentBytes, rounded up to whole pieces: source 0 → 4 pieces, source 1 → 2, source 2 → 1.
    const first = new Map<number, Segment>();
    for (const s of taken) if (!first.has(s.sourceId)) first.set(s.sourceId, s);
    assert.equal(first.get(0)!.end - first.get(0)!.start, 4 * P);
    assert.equal(first.get(1)!.end - first.get(1)!.start, 2 * P);
    assert.equal(first.get(2)!.end - first.get(2)!.start, 1 * P);
    assert.equal(planner.active.size, taken.length);
  });

  it('lays slots out in file order following the pattern; each source takes its earliest reserved slot', () => {
    const { planner, pattern } = setup(64 * P, [[0, 3], [1, 1]]);
    assert.deepEqual([...pattern.round], [0, 0, 1, 0]);
    // Source 1 asks first: the slots of source 0 before it are laid out (reserved), then its own.
    assert.deepEqual(span(planner.take(1, 0)), [4 * P, 6 * P]);
    // Source 0 gets its reserved slots, earliest first.
    assert.deepEqual(span(planner.take(0, 0)), [0, 2 * P]);
    assert.deepEqual(span(planner.take(0, 0)), [2 * P, 4 * P]);
    // No reservation left for 0: the pattern continues (its 4th entry is 0) after source 1's slot.
    assert.deepEqual(span(planner.take(0, 0)), [6 * P, 8 * P]);
    // Then 0, 0, 1: source 1's next slot comes after two more slots reserved for 0.
    assert.deepEqual(span(planner.take(1, 0)), [12 * P, 14 * P]);
    assert.deepEqual(span(planner.take(0, 0)), [8 * P, 10 * P]);
  });

  it('clearReservations frees reserved slots for whoever asks next', () => {
    const { planner, pattern } = setup(16 * P, [[0, 3], [1, 1]]);
    assert.deepEqual(span(planner.take(1, 0)), [4 * P, 6 * P]); // [0,4P) now reserved for source 0
    // The engine's replan: a new pattern (source 0 gone), then the reservations are dropped.
    pattern.recompute(new Map([[1, 1]]), 1);
    planner.clearReservations();
    assert.equal(planner.openBytes, 14 * P);
    assert.deepEqual(span(planner.take(1, 0)), [0, 2 * P], 'the formerly reserved front of the file goes to source 1');
  });

  it('without clearReservations, reserved slots stay with their source', () => {
    const { planner, pattern } = setup(16 * P, [[0, 3], [1, 1]]);
    planner.take(1, 0);
    pattern.recompute(new Map([[1, 1]]), 1);
    assert.deepEqual(span(planner.take(1, 0)), [6 * P, 8 * P]);
    assert.deepEqual(span(planner.take(0, 0)), [0, 2 * P]);
  });

  it('a source outside the pattern still gets work: an unreserved range, else any slot (reservations are soft)', () => {
    const { planner } = setup(4 * P, [[0, 1]]);
    // Pattern holds only source 0. Source 5 lays out slots for 0 ([0,2P), [2P,4P)) and then
    // takes a reserved one anyway, since nothing unreserved is left.
    const segment = planner.take(5, 0);
    assert.deepEqual(span(segment), [0, 2 * P]);
    assert.deepEqual(span(planner.take(0, 0)), [2 * P, 4 * P]);
    assert.equal(planner.take(0, 0), undefined);
  });

  it('a whole-only source (no Range support) gets the whole first open run (the fetcher streams from byte 0 and skips to it)', () => {
    const { planner } = setup(8 * P, [[0, 1]]);
    const whole = planner.take(3, 0, true);
    assert.deepEqual(span(whole), [0, 8 * P]);
    const { planner: other } = setup(8 * P, [[0, 1]]);
    other.take(0, 0); // [0, 2P) gone
    const rest = other.take(3, 0, true);
    assert.deepEqual(span(rest), [2 * P, 8 * P], 'the first open run, whole, not cut to a segment size');
    assert.equal(other.take(3, 0, true), undefined, 'nothing open is left');
  });

  it('release returns exactly the uncommitted remainder [cursor, end)', () => {
    const { planner } = setup(8 * P, [[0, 1], [1, 1]]);
    const segment = planner.take(0, 0)!;
    assert.deepEqual(span(segment), [0, 2 * P]);
    const openBefore = planner.openBytes;
    segment.received = P + 5000;
    segment.cursor = P + 1234; // received but not yet committed bytes are not kept
    planner.release(segment);
    assert.equal(planner.active.has(segment.id), false);
    assert.equal(planner.openBytes, openBefore + (2 * P - (P + 1234)));
    // The next channel continues at exactly the cursor byte (its end is a piece boundary again).
    const next = planner.take(1, 0)!;
    assert.equal(next.start, P + 1234);
    assert.equal(next.end % P, 0);
    // A fully committed segment gives nothing back.
    next.cursor = next.end;
    const before = planner.openBytes;
    planner.release(next);
    assert.equal(planner.openBytes, before);
  });

  it('steal splits the segment with the most time left at a piece boundary, proportional to rates', () => {
    const { planner, rates } = setup(200 * P, [[0, 1], [1, 1], [2, 1]]);
    rates.sizes.set(0, 100 * P).set(1, 40 * P);
    const slow = planner.take(0, 0)!;
    const fast = planner.take(1, 0)!;
    assert.deepEqual(span(slow), [0, 100 * P]);
    assert.deepEqual(span(fast), [100 * P, 140 * P]);
    // Take everything else so nothing is open.
    while (planner.take(2, 0)) { /* drain */ }
    rates.rates.set(0, 1 * P).set(1, 10 * P).set(2, 3 * P); // slow has 100 s left, fast 4 s
    slow.received = slow.cursor = 10 * P + 100; // mid-piece: piece 10 is in progress
    const stolen = planner.steal(2, 1)!;
    assert.ok(stolen);
    assert.equal(stolen.sourceId, 2);
    assert.equal(stolen.racing, false);
    // Remaining 90P-100 bytes; thief share 3/(3+1) = 0.75 → split at alignUp(100P - 0.75·remaining).
    const remaining = 100 * P - (10 * P + 100);
    const expectedSplit = Math.ceil((100 * P - remaining * 0.75) / P) * P;
    assert.equal(stolen.start, expectedSplit);
    assert.equal(stolen.start % P, 0);
    assert.equal(stolen.end, 100 * P);
    assert.equal(slow.end, stolen.start, 'the victim keeps exactly the front part');
    assert.equal(fast.end, 140 * P, 'the faster segment is untouched');
  });

  it('steal never cuts into the piece in progress and gives up when only that piece is left', () => {
    const { planner, rates } = setup(4 * P, [[0, 1]]);
    rates.sizes.set(0, 4 * P);
    const victim = planner.take(0, 0)!;
    rates.rates.set(0, 1000).set(1, 1e9); // a very fast thief would take nearly everything
    victim.received = victim.cursor = P + 10;
    const stolen = planner.steal(1, 0)!;
    assert.equal(stolen.start, 2 * P, 'the piece being received (1) stays with the victim');
    assert.equal(victim.end, 2 * P);
    stolen.received = stolen.cursor = 3 * P + 1;
    victim.received = victim.cursor = 2 * P - 1;
    assert.equal(planner.steal(2, 0), undefined, 'only pieces in progress are left');
  });

  it('steal declines when the victim finishes before the thief would see its first byte', () => {
    const { planner, rates } = setup(4 * P, [[0, 1]]);
    rates.sizes.set(0, 4 * P);
    planner.take(0, 0);
    rates.rates.set(0, 100 * P).set(1, 100 * P); // 40 ms left
    rates.latency.set(1, 500);
    assert.equal(planner.steal(1, 0), undefined);
  });

  it('race duplicates the last piece of the slowest segment, once, and never of the same source', () => {
    const { planner, rates } = setup(8 * P, [[0, 1], [1, 1], [2, 1]]);
    rates.sizes.set(0, 2 * P).set(1, 2 * P).set(2, 4 * P);
    const a = planner.take(0, 0)!; // [0, 2P)
    const b = planner.take(1, 0)!; // [2P, 4P)
    const c = planner.take(2, 0)!; // [4P, 8P)
    assert.deepEqual([span(a), span(b), span(c)], [[0, 2 * P], [2 * P, 4 * P], [4 * P, 8 * P]]);
    a.received = a.cursor = P + 100;
    b.received = b.cursor = 3 * P + 100;
    c.received = c.cursor = c.end; // done receiving
    rates.rates.set(0, 1000).set(1, 5000).set(2, 10 * P);
    assert.equal(planner.steal(2, 0), undefined, 'nothing left to split');
    const racer = planner.race(2, 0)!;
    assert.ok(racer);
    assert.equal(racer.racing, true);
    assert.equal(racer.raced, a, 'the slowest segment (most time left) is raced');
    assert.equal(a.racedBy, racer);
    assert.deepEqual(span(racer), [P, 2 * P], 'the racer covers the whole piece in progress up to the end');
    // The next race goes to the other segment; the raced one is not raced twice.
    const second = planner.race(2, 0)!;
    assert.equal(second.raced, b);
    assert.deepEqual(span(second), [3 * P, 4 * P]);
    // A source does not race its own segment, and nothing else is left to race.
    assert.equal(planner.race(2, 0), undefined);
    // Releasing a racer gives nothing back and frees its victim for another racer.
    const open = planner.openBytes;
    planner.release(racer);
    assert.equal(planner.openBytes, open);
    assert.equal(a.racedBy, undefined);
    assert.equal(planner.race(1, 0)?.raced, a);
  });

  it('a clearly faster channel takes a race over from a slow racer, which is aborted; a similar one does not', () => {
    const { planner, rates } = setup(4 * P, [[0, 1], [1, 1], [2, 1], [3, 1]]);
    rates.sizes.set(0, 4 * P);
    const victim = planner.take(0, 0)!;
    victim.received = victim.cursor = 3 * P + 100; // in its last piece
    // The victim needs ~64 s; the first idle channel (source 1) needs ~8 s for the piece.
    rates.rates.set(0, 1000).set(1, 8000).set(2, 9000).set(3, 100 * P);
    rates.latency.set(1, 0).set(2, 0).set(3, 0);
    const slowRacer = planner.race(1, 0)!;
    assert.equal(slowRacer.raced, victim);
    // Source 2 is barely faster than the racer: no takeover (it would throw the racer's bytes away).
    assert.equal(planner.race(2, 0), undefined);
    assert.equal(slowRacer.controller.signal.aborted, false);
    // Source 3 needs ~0.01 s: it takes the race over, and the slow racer is aborted with a reason.
    const fastRacer = planner.race(3, 0)!;
    assert.equal(fastRacer.raced, victim);
    assert.equal(victim.racedBy, fastRacer);
    assert.deepEqual(span(fastRacer), [3 * P, 4 * P]);
    assert.equal(slowRacer.controller.signal.aborted, true);
    assert.match(slowRacer.abortReason ?? '', /faster channel/);
    // Releasing the displaced racer does not free the victim from its new racer.
    planner.release(slowRacer);
    assert.equal(victim.racedBy, fastRacer);
  });

  it('near the end, a source whose piece would complete last takes it from the back of the file', () => {
    const { planner, rates } = setup(16 * P, [[0, 1], [1, 1]]);
    rates.sizes.set(0, P).set(1, P);
    rates.latency.set(0, 0).set(1, 0);
    rates.rates.set(0, 64 * P).set(1, P / 4); // a piece: 1/64 s on source 0, 4 s on source 1
    rates.total = 64 * P;
    // 16 open pieces take the job 0.25 s: a piece of source 1 would complete last.
    assert.deepEqual(span(planner.take(1, 0)), [15 * P, 16 * P]);
    assert.deepEqual(span(planner.take(1, 0)), [14 * P, 15 * P]);
    // The fast source keeps taking from the front.
    assert.deepEqual(span(planner.take(0, 0)), [0, P]);
    // Done pieces at the back are skipped, never handed out.
    planner.removeOpen(13 * P, 14 * P);
    planner.addOpen(13 * P, 14 * P);
    const pieces = (planner as unknown as { pieces: PieceStore }).pieces;
    pieces.markDone(13, Buffer.alloc(32), [0]);
    assert.deepEqual(span(planner.take(1, 0)), [12 * P, 13 * P]);
    // With plenty left (or no measured total), source 1 takes its slot in file order again.
    rates.total = P;
    const early = planner.take(1, 0)!;
    assert.ok(early.start < 12 * P, `took ${early.start / P} from the back`);
  });

  it('race declines when the thief would not finish before the victim', () => {
    const { planner, rates } = setup(2 * P, [[0, 1]]);
    const a = planner.take(0, 0)!;
    a.received = a.cursor = P + 10;
    rates.rates.set(0, 100 * P).set(1, P); // victim: ~0.01 s left; thief needs ~1 s
    assert.equal(planner.race(1, 0), undefined);
  });

  it('addOpen merges adjacent ranges and removeOpen cuts holes', () => {
    const { planner } = setup(10 * P, [[0, 1]]);
    planner.removeOpen(0, 10 * P);
    assert.equal(planner.openBytes, 0);
    assert.equal(planner.hasOpenWork, false);
    planner.addOpen(4 * P, 6 * P);
    planner.addOpen(2 * P, 4 * P);
    planner.addOpen(6 * P, 7 * P);
    planner.addOpen(9 * P, 9 * P); // empty: ignored
    assert.equal(planner.openBytes, 5 * P);
    planner.removeOpen(3 * P, 5 * P);
    assert.equal(planner.openBytes, 3 * P);
    // Takes follow file order: [2P,3P) first, then [5P,7P).
    const rates = (planner as unknown as { rates: FakeRates }).rates;
    rates.sizes.set(0, 10 * P);
    assert.deepEqual(span(planner.take(0, 0)), [2 * P, 3 * P]);
    assert.deepEqual(span(planner.take(0, 0)), [5 * P, 7 * P]);
    assert.equal(planner.take(0, 0), undefined);
  });

  it('reset rebuilds the open ranges from the pieces that are not done', () => {
    const { planner, pieces, rates } = setup(6 * P, [[0, 1]]);
    for (const index of [0, 1, 3]) pieces.markDone(index, Buffer.alloc(32), [0]);
    planner.reset();
    assert.equal(planner.openBytes, 3 * P);
    rates.sizes.set(0, 10 * P);
    assert.deepEqual(span(planner.take(0, 0)), [2 * P, 3 * P]);
    assert.deepEqual(span(planner.take(0, 0)), [4 * P, 6 * P]);
  });
});
