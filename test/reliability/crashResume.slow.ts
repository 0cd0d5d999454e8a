/**
 * R01 in full: kill -9 of the CLI at 20 random points, resumed each time (RELIABILITY.md figure 4,
 * "resume re-fetch bound held in N/20 runs"). Not part of `npm test` (about 40 s on 2 cores):
 * `npm run test:load`, and scripts/reliabilityReport.js runs it for the report.
 */
import * as assert from 'node:assert/strict';
import { MiB, buildCli, record, useRelFixtures } from './fixtures';
import { crashAndResume } from './helpers/crashResume';

describe('reliability (slow): crash and resume', function () {
  this.timeout(10 * 60_000);
  const fx = useRelFixtures();

  before(async function () {
    this.timeout(120_000);
    await buildCli();
  });

  it('R01 kill -9 of the CLI at 20 random points, resumed each time: final SHA-256 and root right; every resume within the re-fetch bound', async () => {
    const seed = process.env.AF_R01_SEED ? Number(process.env.AF_R01_SEED) : undefined;
    const report = await crashAndResume(fx, { kills: 20, size: 64 * MiB, bytesPerSecond: 4e6, seed });
    for (const kill of report.kills) record({ figure: 'resume', via: 'cli-20', seed: report.seed, ...kill });
    record({ figure: 'resources', what: 'R01 20 kills: total bytes served for the file (size ratio)', value: Number((report.totalServed / report.size).toFixed(3)), ms: report.ms });
    assert.equal(report.kills.length, 20, `only ${report.kills.length} kills landed before the download finished (seed ${report.seed})`);
    assert.deepEqual(report.kills.filter((k) => !k.held), [], `re-fetch bound broken (seed ${report.seed})`);
  });
});
