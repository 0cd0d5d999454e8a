import * as assert from 'node:assert/strict';
import { jobTuning, readEngineSettings } from '../../src/config/engineSettings';

describe('engine settings', () => {
  it('uses the defaults when nothing is set', () => {
    const settings = readEngineSettings(() => undefined);
    assert.deepEqual(settings, { connectionsPerSource: 4, maxSources: 6 });
    assert.deepEqual(jobTuning(settings), { connectionsPerSource: 4, maxActiveSources: 6 });
  });

  it('converts units and clamps to the documented ranges', () => {
    const values: Record<string, unknown> = {
      connectionsPerSource: 99, maxSources: 0, maxConnections: 5000, pieceSize: '4 MiB', speedLimit: 12.5, minSourceSpeed: 64,
      rankingWeights: { throughput: 2, cost: -1, bogus: 5 }, location: 'DE',
    };
    const tuning = jobTuning(readEngineSettings((key) => values[key]));
    assert.deepEqual(tuning, {
      connectionsPerSource: 16,
      maxActiveSources: 1,
      maxConnections: 1024,
      pieceSize: 4 * 1024 * 1024,
      limitBytesPerSecond: 12_500_000,
      minSourceSpeed: 64_000,
      rankingWeights: { throughput: 2 },
      location: 'de',
    });
  });

  it('reads the cost cap and the external ranking service (a command wins over a URL)', () => {
    const read = (values: Record<string, unknown>): ReturnType<typeof jobTuning> => jobTuning(readEngineSettings((key) => values[key]));
    assert.equal(read({ maxExpensiveShare: 0.2 }).maxExpensiveShare, 0.2);
    assert.equal(read({ maxExpensiveShare: -3 }).maxExpensiveShare, 0);
    assert.equal(read({ maxExpensiveShare: 1 }).maxExpensiveShare, undefined);
    assert.deepEqual(read({ rankingCommand: ' rank --json ', rankingUrl: 'https://rank.test/' }).externalRanking, { command: 'rank --json' });
    assert.deepEqual(read({ rankingUrl: 'https://rank.test/score' }).externalRanking, { url: 'https://rank.test/score' });
    assert.equal(read({ rankingUrl: 'file:///etc/passwd' }).externalRanking, undefined);
    assert.deepEqual(read({ rankingWeights: { external: 2 } }).rankingWeights, { external: 2 });
  });

  it('leaves the connection cap to the engine at 0 (automatic) and passes a set one through', () => {
    assert.equal(jobTuning(readEngineSettings((key) => (key === 'maxConnections' ? 0 : undefined))).maxConnections, undefined);
    assert.equal(jobTuning(readEngineSettings((key) => (key === 'maxConnections' ? 48 : undefined))).maxConnections, 48);
  });

  it('lets the engine choose the piece size for "auto" and unknown values', () => {
    assert.equal(readEngineSettings((key) => (key === 'pieceSize' ? 'auto' : undefined)).pieceSize, undefined);
    assert.equal(readEngineSettings((key) => (key === 'pieceSize' ? '3 MiB' : undefined)).pieceSize, undefined);
  });
});
