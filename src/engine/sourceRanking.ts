/**
 * Scores sources from measured throughput and latency, their error history, and the user's
 * priority, cost and location. The score only orders sources; how many bytes each gets follows
 * measured throughput through the allocation pattern.
 */
import type { RankingWeights } from './jobOptions';
import type { SourceRuntime } from './sourceRuntime';

export const DEFAULT_RANKING_WEIGHTS: RankingWeights = {
  throughput: 1,
  latency: 0.2,
  errors: 0.3,
  priority: 0.25,
  cost: 0.25,
  location: 0.15,
};

/**
 * A score in roughly [0, 2]: throughput relative to the best source dominates; latency, strikes,
 * priority, cost and location nudge. Unmeasured sources get an optimistic throughput so they are
 * tried (explore before exploit, as aria2's adaptive selector does).
 */
export function scoreSource(
  source: SourceRuntime,
  context: { bestRate: number; bestLatencyMs: number; maxPriority: number; maxCost: number; location?: string; now: number },
  weights: RankingWeights = DEFAULT_RANKING_WEIGHTS,
): number {
  const rate = source.meter.rate(context.now);
  const measured = source.meter.totalBytes > 0;
  const throughput = context.bestRate > 0 ? (measured ? rate / context.bestRate : 0.75) : 1;
  const latency = source.latencyMs > 0 ? Math.min(1, (context.bestLatencyMs + 1) / (source.latencyMs + 1)) : 0.5;
  const errors = 1 / (1 + source.strikes + source.attemptsWithoutProgress);
  const priority = context.maxPriority > 0 ? Math.max(0, source.priority) / context.maxPriority : 0;
  const cost = context.maxCost > 0 ? 1 - source.cost / context.maxCost : 1;
  const location = context.location && source.spec.location ? (source.spec.location.toLowerCase() === context.location.toLowerCase() ? 1 : 0) : 0;
  const total = weights.throughput + weights.latency + weights.errors + weights.priority + weights.cost + weights.location;
  return (
    (weights.throughput * throughput +
      weights.latency * latency +
      weights.errors * errors +
      weights.priority * priority +
      weights.cost * cost +
      weights.location * location) /
    total
  );
}
