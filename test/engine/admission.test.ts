import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import type { MirrorOptions } from '../harness/mirrorServer';
import { KiB, LEAD_PROBE_BYTES, MiB, PROBE_BYTES, assertFileEquals, isLeadProbe, isSpotCheck, rangeOf, runJob, useFixtures, workRequests } from './fixtures';

/**
 * When a source starts working: with a trusted hash it works while its identity spot check runs
 * (speculative admission, one round trip sooner); without one, only after the check passed.
 */
describe('engine: admission of a second source', function () {
  this.timeout(30_000);
  const fx = useFixtures();
  const PIECE = 64 * KiB;
  const SIZE = 6 * MiB;
  const body = makeArtifact(SIZE, 'admission');
  /** Another version of the file: the same size and first block (what a probe sees), other bytes after. */
  const otherVersion = Buffer.from(body);
  for (let offset = 64 * KiB; offset < SIZE; offset += 512) otherVersion[offset] ^= 0x5a;
  /** The spot check's answer is held back, so any work before it is visible in the request log. */
  const slowSpotCheck: MirrorOptions['onRequest'] = async (_req, _res, { entry }) => {
    if (isSpotCheck(entry, PIECE)) await sleep(400);
    return false;
  };

  it('with a trusted SHA-256 a mirror works (one piece) while its spot check runs, and a failed check takes back what it sent', async () => {
    const primary = await fx.mirror({ body, bytesPerSecond: 3e6 });
    const wrong = await fx.mirror({ body: otherVersion, bytesPerSecond: 3e6, onRequest: slowSpotCheck });
    const output = path.join(await fx.tempDir(), 'artifact.bin');
    const { result, events } = await runJob(fx, {
      sources: [{ url: primary.url }, { url: wrong.url }],
      outputPath: output,
      pieceSize: PIECE,
      expected: { sha256: sha256Hex(body) },
    });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    // It was asked for work before its spot check answered: admitted speculatively.
    const spot = wrong.requests.find((r) => isSpotCheck(r, PIECE));
    assert.ok(spot, 'no spot check on the second mirror');
    const early = workRequests(wrong, PIECE).filter((r) => r.startedAt < spot.startedAt + 400);
    assert.ok(early.length > 0, 'the second mirror got no work before its spot check answered');
    // On trial it gets one piece: a mirror with another file sends at most that.
    assert.equal(early.length, 1, `work on trial: ${early.map((r) => r.range).join(', ')}`);
    assert.ok(early[0].bytesSent <= PIECE, `${early[0].bytesSent} bytes on trial`);
    assert.equal(result.sources[1].state, 'excluded');
    assert.match(result.sources[1].reason, /block at offset \d+ differs/);
    // Nothing it sent was kept: the pieces it had delivered were fetched again from the primary.
    assert.equal(result.sources[1].bytes, 0);
    assert.equal(result.sources[0].bytes, SIZE);
    const workBytes = early.reduce((sum, r) => sum + r.bytesSent, 0);
    if (workBytes >= PIECE) assert.ok(events.some((e) => e.kind === 'repair' && /fetched again/.test(e.message)), 'its delivered pieces were not taken back');
  });

  it("the primary's probe asks for more than its sample and goes on as the first segment: bytes from 0 are not asked again", async () => {
    const primary = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const output = path.join(await fx.tempDir(), 'artifact.bin');
    const { result } = await runJob(fx, { sources: [{ url: primary.url }], outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const probe = primary.requests[0];
    assert.equal(probe.range, `bytes=0-${LEAD_PROBE_BYTES - 1}`);
    // It carried its first segment (whole pieces past the sample), and nobody asked for byte 0 again.
    assert.ok(probe.bytesSent > PROBE_BYTES + PIECE, `the probe sent only ${probe.bytesSent} bytes`);
    assert.ok(primary.requests.slice(1).every((r) => rangeOf(r)!.start > 0), `byte 0 asked again: ${primary.requests.map((r) => r.range).join(', ')}`);
    // Its share of the file is a first segment's, not all of it: other channels did work too.
    assert.ok(workRequests(primary, PIECE).filter((r) => !isLeadProbe(r)).length >= 3);
  });

  it('without a trusted hash a mirror gets no work until its spot check passed', async () => {
    const primary = await fx.mirror({ body, bytesPerSecond: 3e6 });
    const second = await fx.mirror({ body, bytesPerSecond: 3e6, onRequest: slowSpotCheck });
    const output = path.join(await fx.tempDir(), 'artifact.bin');
    const { result } = await runJob(fx, {
      sources: [{ url: primary.url }, { url: second.url }],
      outputPath: output,
      pieceSize: PIECE,
    });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const spot = second.requests.find((r) => isSpotCheck(r, PIECE));
    assert.ok(spot?.endedAt !== undefined, 'no finished spot check on the second mirror');
    const work = workRequests(second, PIECE);
    assert.ok(work.length > 0, 'the second mirror never worked: the test proves nothing');
    for (const request of work) assert.ok(request.startedAt >= spot.endedAt!, `work ${request.range} began before the spot check ended`);
  });
});
