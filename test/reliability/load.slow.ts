/**
 * Load (RELIABILITY.md X07/X09 at size): a 4 GiB artifact through the CLI, and 1 GiB through the
 * engine worker inside a plain Node host. Not part of `npm test`: `npm run test:load`.
 * Needs ~8.5 GB of free space in the temp folder (the served file and the download).
 */
import * as assert from 'node:assert/strict';
import { promises as fsp, statfsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { DownloadResult } from '../../src/engine/snapshot';
import { writeArtifactFile } from '../harness/artifact';
import { startProcessMirror } from '../harness/mirrorProcess';
import { buildCli, buildWorker, record, startCliMonitored, useRelFixtures, workerClient } from './fixtures';

const GiB = 1024 ** 3;
const MB = 1e6;

describe('reliability (slow): load', function () {
  this.timeout(30 * 60_000);
  const fx = useRelFixtures();

  before(async function () {
    this.timeout(120_000);
    await Promise.all([buildCli(), buildWorker()]);
    const free = statfsSync(os.tmpdir());
    if (Number(free.bavail) * Number(free.bsize) < 9 * GiB) throw new Error(`needs 9 GiB free in ${os.tmpdir()}`);
  });

  it('X07 a 4 GiB download through the CLI completes, verified, with peak RSS < 200 MB (VmHWM)', async () => {
    const dir = await fx.tempDir();
    const file = path.join(dir, 'big.bin');
    const generatedAt = Date.now();
    const sha256 = await writeArtifactFile(file, 4 * GiB, 'load-4g');
    const generateMs = Date.now() - generatedAt;
    // The mirror reads from the file (test/harness mirror `file` option), in this process's event loop.
    const mirror = await fx.mirror({ file });
    const output = path.join(dir, 'out.bin');
    const cli = await startCliMonitored(['get', mirror.url, '-o', output, '--sha256', sha256, '--json', '-q'], { sampleMs: 50 });
    const run = await cli.done;
    await fsp.rm(file, { force: true });
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as DownloadResult;
    assert.equal(result.ok, true);
    assert.equal(result.sha256, sha256);
    assert.equal((await fsp.stat(output)).size, 4 * GiB);
    await fsp.rm(output, { force: true });
    record({ figure: 'resources', what: 'X07 CLI peak RSS, 4 GiB file (VmHWM)', bytes: run.vmHwmBytes, exact: run.peakRssBytes, bound: 200 * MB, ms: run.ms, generateMs, mbPerSecond: Number(((4 * GiB) / MB / (run.ms / 1000)).toFixed(0)) });
    assert.ok(run.vmHwmBytes < 200 * MB, `VmHWM ${(run.vmHwmBytes / MB).toFixed(0)} MB`);
    assert.ok(run.peakRssBytes < 200 * MB, `peak RSS ${(run.peakRssBytes / MB).toFixed(0)} MB`);
  });

  it('X09 event-loop lag of a plain Node host while the worker downloads 1 GiB at full loopback speed: p99 under 50 ms', async () => {
    const dir = await fx.tempDir();
    const file = path.join(dir, 'x09.bin');
    const sha256 = await writeArtifactFile(file, GiB, 'load-x09');
    const mirror = await startProcessMirror({ file });
    fx.defer(() => mirror.close());
    const { client } = await workerClient(fx);
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    const finished = new Promise<DownloadResult>((resolve) => client.on('jobResult', (_id, r) => resolve(r)));
    const started = Date.now();
    histogram.enable();
    await client.startJob('x09', { sources: [{ url: mirror.url }], outputPath: path.join(dir, 'out.bin'), expected: { sha256 } });
    const result = await finished;
    histogram.disable();
    const seconds = (Date.now() - started) / 1000;
    assert.equal(result.ok, true, JSON.stringify(result.error));
    const p99 = histogram.percentile(99) / 1e6;
    record({ figure: 'resources', what: 'X09 host event-loop lag p99 (ms), 1 GiB via the worker', value: Number(p99.toFixed(1)), max: Number((histogram.max / 1e6).toFixed(1)), bound: 50, mbPerSecond: Number((GiB / MB / seconds).toFixed(0)) });
    assert.ok(p99 < 50, `p99 ${p99.toFixed(1)} ms`);
  });
});
