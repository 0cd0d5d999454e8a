/**
 * The allocation pattern: a repeating sequence of source ids whose proportions match the
 * sources' weights (current throughput), spread evenly so no source gets a burst of segments
 * in a row. Built by smooth weighted round robin (the nginx upstream algorithm): each step every
 * source gains its weight, the richest is picked and pays the total.
 */
export class AllocationPattern {
  private sequence: number[] = [];
  private position = 0;

  /**
   * Recomputes the pattern.
   * @param weights source id → weight (e.g. bytes/s); non-positive weights are left out
   * @param length how many entries one round of the pattern holds
   */
  recompute(weights: Map<number, number>, length = 16): void {
    const entries = [...weights].filter(([, w]) => w > 0 && Number.isFinite(w));
    this.sequence = [];
    this.position = 0;
    if (entries.length === 0) return;
    const total = entries.reduce((sum, [, w]) => sum + w, 0);
    const current = new Map<number, number>(entries.map(([id]) => [id, 0]));
    for (let step = 0; step < Math.max(length, entries.length); step++) {
      let best = -1;
      let bestValue = -Infinity;
      for (const [id, weight] of entries) {
        const value = (current.get(id) ?? 0) + weight;
        current.set(id, value);
        if (value > bestValue) { bestValue = value; best = id; }
      }
      current.set(best, bestValue - total);
      this.sequence.push(best);
    }
  }

  /** The next source id in the pattern, or undefined when the pattern is empty. */
  next(): number | undefined {
    if (this.sequence.length === 0) return undefined;
    const id = this.sequence[this.position];
    this.position = (this.position + 1) % this.sequence.length;
    return id;
  }

  /** One round of the pattern, for snapshots and tests. */
  get round(): readonly number[] {
    return this.sequence;
  }
}
