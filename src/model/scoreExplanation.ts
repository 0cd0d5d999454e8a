import type { SourceSnapshot } from '../engine/snapshot';
import { RANKING_INPUTS, type RankingInput, type ScoreTerm } from '../engine/sourceRanking';

/**
 * Tooltip lines that say why a source ranks where it does: one line per ranking input with its
 * value (0..1), what it added to the score, and the fact behind it (its cost and cap, its location,
 * the external service's answer). Inputs that do not count say so instead of showing a zero.
 */
export function scoreExplanation(source: SourceSnapshot): string[] {
  const inputs = source.scoreInputs;
  if (!inputs) return [`priority ${source.priority}, cost ${source.cost}${source.location ? `, location ${source.location}` : ''}`];
  return [`score ${source.score.toFixed(2)} =`, ...RANKING_INPUTS.map((name) => `  ${termLine(name, inputs[name], source)}`)];
}

function termLine(name: RankingInput, term: ScoreTerm, source: SourceSnapshot): string {
  const effect = `+${term.contribution.toFixed(2)}`;
  if (term.value === undefined) {
    return name === 'location' ? 'location: not counted (no location of yours is set)' : `${name}: not counted (no answer from the ranking service)`;
  }
  const value = term.value.toFixed(2);
  switch (name) {
    case 'priority':
      return `priority ${source.priority}: ${value} → ${effect}`;
    case 'cost': {
      const cap = source.expensiveShareCap !== undefined ? `; sources with a cost carry at most ${Math.round(source.expensiveShareCap * 100)}% of the bytes` : '';
      return `cost ${source.cost}${source.cost > 0 ? '' : ' (free)'}: ${value} → ${effect}${cap}`;
    }
    case 'location':
      return `location ${source.location ?? 'unknown'}${term.value === 1 ? ' (yours)' : ' (not yours)'}: ${value} → ${effect}`;
    case 'external':
      return `external service: ${value} → ${effect}`;
    default:
      return `${name}: ${value} → ${effect}`;
  }
}
