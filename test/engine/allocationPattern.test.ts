import * as assert from 'node:assert/strict';
import { AllocationPattern } from '../../src/engine/allocationPattern';

function counts(sequence: readonly number[]): Map<number, number> {
  const result = new Map<number, number>();
  for (const id of sequence) result.set(id, (result.get(id) ?? 0) + 1);
  return result;
}

describe('engine: AllocationPattern', () => {
  const weights = new Map([[0, 40], [1, 20], [2, 8], [3, 2]]);

  it('gives each source a share of one round proportional to its weight (40/20/8/2)', () => {
    const pattern = new AllocationPattern();
    pattern.recompute(weights, 70);
    assert.equal(pattern.round.length, 70);
    assert.deepEqual(Object.fromEntries(counts(pattern.round)), { 0: 40, 1: 20, 2: 8, 3: 2 });

    pattern.recompute(weights, 35);
    assert.deepEqual(Object.fromEntries(counts(pattern.round)), { 0: 20, 1: 10, 2: 4, 3: 1 });
  });

  it('keeps proportions within one entry per source on the default round of 16', () => {
    const pattern = new AllocationPattern();
    pattern.recompute(weights);
    assert.equal(pattern.round.length, 16);
    const c = counts(pattern.round);
    for (const [id, weight] of weights) {
      const ideal = (16 * weight) / 70;
      assert.ok(Math.abs((c.get(id) ?? 0) - ideal) < 1, `source ${id}: ${c.get(id)} entries, ideal ${ideal.toFixed(2)}`);
    }
  });

  it('spreads entries evenly: a source under 50% of the weight never comes twice in a row (round wraps too)', () => {
    const pattern = new AllocationPattern();
    pattern.recompute(weights, 70);
    const round = pattern.round;
    for (let i = 0; i < round.length; i++) {
      const a = round[i];
      const b = round[(i + 1) % round.length];
      if (a === b) assert.ok(weights.get(a)! / 70 >= 0.5, `source ${a} (weight ${weights.get(a)}) twice in a row at ${i}: ${round.join('')}`);
    }
    // Every prefix of the repeating pattern (two rounds, so the wrap is covered) holds each source
    // within one entry of its ideal share: no bursts anywhere.
    for (const [id, weight] of weights) {
      let count = 0;
      for (let n = 1; n <= 2 * round.length; n++) {
        if (round[(n - 1) % round.length] === id) count++;
        assert.ok(Math.abs(count - (n * weight) / 70) < 1, `source ${id} after ${n} entries: ${count}, ideal ${((n * weight) / 70).toFixed(2)}`);
      }
    }
    // The light sources are spread over the round, not bunched: source 2's 8 entries in 70.
    const twos = round.map((id, i) => (id === 2 ? i : -1)).filter((i) => i >= 0);
    for (let i = 1; i < twos.length; i++) assert.ok(twos[i] - twos[i - 1] >= 6, `source 2 bunched: ${round.join('')}`);
  });

  it('next() cycles through the round in order', () => {
    const pattern = new AllocationPattern();
    pattern.recompute(new Map([[7, 3], [9, 1]]), 4);
    assert.deepEqual([...pattern.round], [7, 7, 9, 7]);
    const taken = Array.from({ length: 9 }, () => pattern.next());
    assert.deepEqual(taken, [7, 7, 9, 7, 7, 7, 9, 7, 7]);
  });

  it('leaves out non-positive and non-finite weights; an empty pattern yields undefined', () => {
    const pattern = new AllocationPattern();
    assert.equal(pattern.next(), undefined);
    pattern.recompute(new Map([[0, 0], [1, -5], [2, Number.NaN], [3, Number.POSITIVE_INFINITY], [4, 10]]));
    assert.deepEqual(new Set(pattern.round), new Set([4]));
    pattern.recompute(new Map([[0, 0]]));
    assert.equal(pattern.round.length, 0);
    assert.equal(pattern.next(), undefined);
  });

  it('a round holds at least as many entries as there are sources', () => {
    const pattern = new AllocationPattern();
    pattern.recompute(new Map([[0, 1], [1, 1], [2, 1]]), 2);
    assert.equal(pattern.round.length, 3);
    assert.deepEqual(new Set(pattern.round), new Set([0, 1, 2]));
  });

  it('recompute replaces the round and restarts from its first entry', () => {
    const pattern = new AllocationPattern();
    pattern.recompute(new Map([[0, 1], [1, 1]]), 4);
    assert.deepEqual(Object.fromEntries(counts(pattern.round)), { 0: 2, 1: 2 });
    pattern.next();
    pattern.recompute(new Map([[0, 1], [1, 3]]), 4);
    assert.deepEqual(Object.fromEntries(counts(pattern.round)), { 0: 1, 1: 3 });
    assert.equal(pattern.next(), pattern.round[0]);
    pattern.recompute(new Map([[5, 1]]), 4);
    assert.deepEqual([...pattern.round], [5, 5, 5, 5]);
  });
});
