import * as assert from 'node:assert/strict';
import { AllocationPattern } from '../../src/engine/allocationPattern';
import { PieceStore } from '../../src/engine/pieceStore';
import { SegmentPlanner, type RateModel } from '../../src/engine/segmentPlanner';
import { urgentRanges } from '../../src/engine/stream/dataPrioritizer';

const P = 64 * 1024;
const MB = 1e6;

/** Rates the test sets per source; every source with a rate is working. */
class TestRates implements RateModel {
  rates = new Map<number, number>();
  channelRate(id: number): number {
    return this.rates.get(id) ?? 0;
  }
  segmentBytes(): number {
    return 4 * P;
  }
  latencyMs(): number {
    return 10;
  }
  workingSources(): number[] {
    return [...this.rates.keys()];
  }
}

function setup(size: number, rates: Array<[number, number]>) {
  const pieces = new PieceStore(size, P);
  const pattern = new AllocationPattern();
  pattern.recompute(new Map(rates));
  const model = new TestRates();
  for (const [id, rate] of rates) model.rates.set(id, rate);
  const planner = new SegmentPlanner(pieces, pattern, model);
  planner.reset();
  return { pieces, planner, model };
}

describe('engine: urgent ranges in the planner (data prioritizer)', () => {
  it('the fast source takes the urgent range first; the slow one gets bulk work outside it', () => {
    const { planner } = setup(100 * P, [[0, 40 * MB], [1, 0.5 * MB]]);
    planner.setUrgentRanges([{ start: 60 * P, end: 64 * P }]);
    const slow = planner.take(1, 0)!;
    assert.ok(slow.end <= 60 * P || slow.start >= 64 * P, `slow source got ${slow.start / P}-${slow.end / P}`);
    const fast = planner.take(0, 0)!;
    assert.deepEqual([fast.start, fast.end], [60 * P, 64 * P]);
  });

  it('equal sources share urgent work', () => {
    const { planner } = setup(100 * P, [[0, 10 * MB], [1, 10 * MB]]);
    planner.setUrgentRanges([{ start: 50 * P, end: 58 * P }]);
    assert.equal(planner.take(0, 0)!.start, 50 * P);
    assert.equal(planner.take(1, 0)!.start, 54 * P);
  });

  it('a fast source steals urgent bytes from a slow source\'s running segment after its current piece', () => {
    const { planner } = setup(100 * P, [[0, 40 * MB], [1, 0.05 * MB]]);
    const slow = planner.take(1, 0)!; // bulk: the front of the file
    planner.setUrgentRanges([{ start: slow.start, end: slow.end }]);
    const fast = planner.take(0, 0)!;
    assert.equal(fast.start, slow.start + P, 'everything after the slow source\'s current piece');
    assert.equal(slow.end, fast.start);
  });

  it('urgent bounds off piece boundaries (a reader\'s rate window) never make a segment off piece boundaries', () => {
    const { planner } = setup(100 * P, [[0, 40 * MB], [1, 0.5 * MB]]);
    planner.setUrgentRanges([{ start: 10 * P + 123.4, end: 20 * P + 0.85 }]);
    const taken = [];
    for (let i = 0; i < 200 && planner.hasOpenWork; i++) {
      const segment = planner.take(i % 2, 0);
      if (segment) taken.push(segment);
    }
    assert.equal(planner.hasOpenWork, false);
    for (const segment of taken) {
      assert.ok(Number.isInteger(segment.start) && Number.isInteger(segment.end), `${segment.start}-${segment.end}`);
      assert.equal(segment.start % P, 0);
      assert.ok(segment.end % P === 0);
    }
    assert.equal(taken.reduce((sum, s) => sum + s.end - s.start, 0), 100 * P, 'every byte once');
  });

  it('without urgent ranges take() keeps bulk order', () => {
    const { planner } = setup(100 * P, [[0, 10 * MB]]);
    planner.setUrgentRanges([{ start: 80 * P, end: 90 * P }]);
    planner.setUrgentRanges([]);
    assert.equal(planner.take(0, 0)!.start, 0);
  });

  it('the prioritizer skips readers whose window is verified and puts blocked readers first', () => {
    const pieces = new PieceStore(1000 * P, P);
    for (let i = 0; i < 200; i++) pieces.markDone(i, Buffer.alloc(32), [0]);
    const ranges = urgentRanges([
      { position: 0, end: 1000 * P, bytesPerSecond: 0, waiting: false }, // far behind the front: nothing urgent
      { position: 190 * P, end: 1000 * P, bytesPerSecond: 0, waiting: false },
      { position: 500 * P, end: 1000 * P, bytesPerSecond: 0, waiting: true },
    ], pieces);
    assert.equal(ranges.length, 2);
    assert.equal(ranges[0].start, 500 * P, 'the blocked reader first');
    assert.equal(ranges[1].start, 200 * P, 'from the first missing piece ahead of the reader');
  });
});
