/**
 * Scores sources from measured throughput and latency, their error history, the user's priority,
 * cost and location, and an optional external ranking service. The score orders sources (which
 * ones are active); how many bytes each gets follows measured throughput through the allocation
 * pattern, bounded by the expensive-share cap (see ranking/expensiveShare.ts).
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
  external: 0.3,
};

/** The inputs of a score, in the order they are shown. */
export const RANKING_INPUTS = ['throughput', 'latency', 'errors', 'priority', 'cost', 'location', 'external'] as const;
export type RankingInput = (typeof RANKING_INPUTS)[number];

/** One input of a score: its value and what it added to the score. */
export interface ScoreTerm {
  /** 0..1 (1 = best); absent when the input is unknown for every source (it then does not count). */
  value?: number;
  /** weight × value / sum of the weights that count: the score is the sum of these. */
  contribution: number;
}

/** A score split into its inputs, so a user can see why a source ranks where it does. */
export type ScoreBreakdown = Record<RankingInput, ScoreTerm>;

/** What a score is relative to: the best of the candidates, and the user's side. */
export interface RankingContext {
  bestRate: number;
  bestLatencyMs: number;
  maxPriority: number;
  maxCost: number;
  /** The user's location tag; without it, location does not count. */
  location?: string;
  /** External scores (0..1) by source id; without an answer from the service, it does not count. */
  external?: ReadonlyMap<number, number>;
  now: number;
}

/**
 * A score in [0, 1] with its breakdown: throughput relative to the best source dominates; latency,
 * strikes, priority, cost, location and the external service nudge. Unmeasured sources get an
 * optimistic throughput so they are tried (explore before exploit, as aria2's adaptive selector does).
 */
export function scoreBreakdown(source: SourceRuntime, context: RankingContext, weights: RankingWeights = DEFAULT_RANKING_WEIGHTS): { score: number; inputs: ScoreBreakdown } {
  const rate = source.meter.rate(context.now);
  const measured = source.meter.totalBytes > 0;
  const values: Record<RankingInput, number | undefined> = {
    throughput: context.bestRate > 0 ? (measured ? rate / context.bestRate : 0.75) : 1,
    latency: source.latencyMs > 0 ? Math.min(1, (context.bestLatencyMs + 1) / (source.latencyMs + 1)) : 0.5,
    errors: 1 / (1 + source.strikes + source.attemptsWithoutProgress),
    priority: context.maxPriority > 0 ? Math.max(0, source.priority) / context.maxPriority : 0,
    cost: context.maxCost > 0 ? 1 - Math.max(0, source.cost) / context.maxCost : 1,
    location: context.location ? (sameLocation(source.spec.location, context.location) ? 1 : 0) : undefined,
    external: context.external ? clamp01(context.external.get(source.id) ?? 0) : undefined,
  };
  const total = RANKING_INPUTS.reduce((sum, name) => sum + (values[name] === undefined ? 0 : Math.max(0, weights[name] ?? 0)), 0);
  const inputs = {} as ScoreBreakdown;
  let score = 0;
  for (const name of RANKING_INPUTS) {
    const value = values[name];
    const contribution = value === undefined || total <= 0 ? 0 : (Math.max(0, weights[name] ?? 0) * value) / total;
    inputs[name] = value === undefined ? { contribution } : { value, contribution };
    score += contribution;
  }
  return { score, inputs };
}

/** The score alone (see scoreBreakdown). */
export function scoreSource(source: SourceRuntime, context: RankingContext, weights: RankingWeights = DEFAULT_RANKING_WEIGHTS): number {
  return scoreBreakdown(source, context, weights).score;
}

function sameLocation(sourceLocation: string | undefined, userLocation: string): boolean {
  return sourceLocation !== undefined && sourceLocation.trim().toLowerCase() === userLocation.trim().toLowerCase();
}

function clamp01(value: number): number {
  return Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
}
