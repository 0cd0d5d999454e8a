import type { JobOptions, RankingWeights } from '../engine/jobOptions';
import type { ExternalRankingOptions } from '../engine/ranking/externalRanking';
import { SettingKey } from './settingKeys';

/** Values of `artifactFetch.pieceSize` and the bytes they stand for ("auto" lets the engine choose). */
export const pieceSizeChoices: Readonly<Record<string, number | undefined>> = {
  auto: undefined,
  '64 KiB': 64 * 1024,
  '256 KiB': 256 * 1024,
  '1 MiB': 1024 * 1024,
  '4 MiB': 4 * 1024 * 1024,
  '16 MiB': 16 * 1024 * 1024,
  '64 MiB': 64 * 1024 * 1024,
};

const rankingWeightNames: ReadonlyArray<keyof RankingWeights> = ['throughput', 'latency', 'errors', 'priority', 'cost', 'location', 'external'];

/** The engine tuning the settings ask for, already validated. */
export interface EngineSettings {
  connectionsPerSource: number;
  maxSources: number;
  /** Job-wide connection cap; undefined (setting 0): the engine's default. */
  maxConnections?: number;
  /** undefined: the engine chooses from the size. */
  pieceSize?: number;
  /** Bytes per second; undefined = unlimited. */
  speedLimit?: number;
  /** Bytes per second; undefined = engine default. */
  minSourceSpeed?: number;
  rankingWeights?: Partial<RankingWeights>;
  /** The user's location tag for ranking (e.g. "de"). */
  location?: string;
  /** 0..1; undefined = no cap on the bytes from sources with a cost. */
  maxExpensiveShare?: number;
  /** The external ranking service (a command wins over a URL). */
  externalRanking?: ExternalRankingOptions;
}

/** Reads one setting by key (relative to `artifactFetch.`). */
export type SettingLookup = (key: string) => unknown;

function integerIn(value: unknown, min: number, max: number, fallback: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, Math.round(value)));
}

function positiveOrUndefined(value: unknown, scale: number): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return undefined;
  return Math.round(value * scale);
}

/**
 * Turns raw setting values into engine tuning: numbers are clamped to their documented ranges,
 * unknown values fall back to the defaults. Units as documented in package.json:
 * `speedLimit` in MB/s, `minSourceSpeed` in kB/s (decimal, like the status bar).
 */
export function readEngineSettings(get: SettingLookup): EngineSettings {
  const settings: EngineSettings = {
    connectionsPerSource: integerIn(get(SettingKey.connectionsPerSource), 1, 16, 4),
    maxSources: integerIn(get(SettingKey.maxSources), 1, 32, 6),
  };
  const maxConnections = get(SettingKey.maxConnections);
  if (typeof maxConnections === 'number' && maxConnections >= 1) settings.maxConnections = integerIn(maxConnections, 1, 1024, 1);
  const pieceSize = get(SettingKey.pieceSize);
  if (typeof pieceSize === 'string' && pieceSize in pieceSizeChoices) settings.pieceSize = pieceSizeChoices[pieceSize];
  const speedLimit = positiveOrUndefined(get(SettingKey.speedLimit), 1_000_000);
  if (speedLimit !== undefined) settings.speedLimit = speedLimit;
  const minSourceSpeed = positiveOrUndefined(get(SettingKey.minSourceSpeed), 1_000);
  if (minSourceSpeed !== undefined) settings.minSourceSpeed = minSourceSpeed;
  const weights = get(SettingKey.rankingWeights);
  if (typeof weights === 'object' && weights !== null) {
    const picked: Partial<RankingWeights> = {};
    for (const name of rankingWeightNames) {
      const value = (weights as Record<string, unknown>)[name];
      if (typeof value === 'number' && Number.isFinite(value) && value >= 0) picked[name] = value;
    }
    if (Object.keys(picked).length > 0) settings.rankingWeights = picked;
  }
  const location = get(SettingKey.location);
  if (typeof location === 'string' && /^[a-z]{2}$/i.test(location.trim())) settings.location = location.trim().toLowerCase();
  const share = get(SettingKey.maxExpensiveShare);
  if (typeof share === 'number' && Number.isFinite(share) && share < 1) settings.maxExpensiveShare = Math.max(0, share);
  const command = get(SettingKey.rankingCommand);
  const url = get(SettingKey.rankingUrl);
  if (typeof command === 'string' && command.trim()) settings.externalRanking = { command: command.trim() };
  else if (typeof url === 'string' && /^https?:\/\/\S+$/i.test(url.trim())) settings.externalRanking = { url: url.trim() };
  if (settings.pieceSize === undefined) delete settings.pieceSize;
  return settings;
}

/** The JobOptions fields the settings control. */
export function jobTuning(settings: EngineSettings): Partial<JobOptions> {
  const tuning: Partial<JobOptions> = {
    connectionsPerSource: settings.connectionsPerSource,
    maxActiveSources: settings.maxSources,
  };
  if (settings.maxConnections !== undefined) tuning.maxConnections = settings.maxConnections;
  if (settings.pieceSize !== undefined) tuning.pieceSize = settings.pieceSize;
  if (settings.speedLimit !== undefined) tuning.limitBytesPerSecond = settings.speedLimit;
  if (settings.minSourceSpeed !== undefined) tuning.minSourceSpeed = settings.minSourceSpeed;
  if (settings.rankingWeights) tuning.rankingWeights = settings.rankingWeights;
  if (settings.location) tuning.location = settings.location;
  if (settings.maxExpensiveShare !== undefined) tuning.maxExpensiveShare = settings.maxExpensiveShare;
  if (settings.externalRanking) tuning.externalRanking = settings.externalRanking;
  return tuning;
}
