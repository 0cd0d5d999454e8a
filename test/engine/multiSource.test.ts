import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { KiB, MiB, assertFileEquals, firstGap, rangeOf, runJob, useFixtures, workBytes, workRequests } from './fixtures';

describe('engine: many mirrors at once', function () {
  this.timeout(30_000);
  const fx = useFixtures();
  const SIZE = 12 * MiB + 12345; // not a multiple of the piece size: the last piece is short
  const PIECE = 64 * KiB;
  const body = makeArtifact(SIZE, 'multi-source');

  it('downloads from 4 capped mirrors: correct file, in-file piece-aligned ranges, faster mirrors serve more', async () => {
    const caps = [8e6, 4e6, 2e6, 0.5e6];
    const mirrors = await Promise.all(caps.map((bytesPerSecond) => fx.mirror({ body, bytesPerSecond })));
    const dir = await fx.tempDir();
    const output = path.join(dir, 'artifact.bin');
    const { result } = await runJob(fx, {
      sources: mirrors.map((m) => ({ url: m.url })),
      outputPath: output,
      pieceSize: PIECE,
      expected: { sha256: sha256Hex(body) },
    });

    assert.equal(result.ok, true, JSON.stringify(result.error));
    assert.equal(result.sha256, sha256Hex(body));
    assert.equal(result.verifiedBy, 'sha256');
    await assertFileEquals(output, body);

    // What each mirror was asked for: every range lies inside the file, and every segment ends at
    // a piece boundary (or the file end). The probe (0-65535) ends at a boundary too.
    const work: Array<{ start: number; end: number }> = [];
    for (const [i, mirror] of mirrors.entries()) {
      assert.ok(mirror.requests.length > 0, `mirror ${i} was never asked`);
      for (const request of mirror.requests) {
        assert.equal(request.method, 'GET');
        const range = rangeOf(request);
        assert.ok(range, `mirror ${i}: request without a closed byte range: ${request.range}`);
        assert.ok(range.start >= 0 && range.end < SIZE && range.start <= range.end, `mirror ${i}: ${request.range} outside the file`);
        assert.ok(request.status === 206, `mirror ${i}: status ${request.status} for ${request.range}`);
      }
      for (const request of workRequests(mirror, PIECE)) {
        const range = rangeOf(request)!;
        assert.ok((range.end + 1) % PIECE === 0 || range.end + 1 === SIZE, `mirror ${i}: segment ${request.range} does not end on a piece boundary`);
        work.push(range);
      }
    }
    // The work requests cover the whole file.
    assert.equal(firstGap(work, SIZE), -1, 'some bytes were never requested');

    // Faster mirrors served more (ordering, not timing thresholds).
    const served = mirrors.map((m) => workBytes(m, PIECE));
    assert.ok(served[0] > served[1] && served[1] > served[2] && served[2] > served[3], `bytes served per mirror: ${served.join(', ')}`);
    // The engine's own accounting agrees on the order, and kept bytes add up to the file.
    const kept = result.sources.map((s) => s.bytes);
    assert.ok(kept[0] > kept[1] && kept[1] > kept[2] && kept[2] >= kept[3], `kept bytes per source: ${kept.join(', ')}`);
    assert.ok(Math.abs(kept.reduce((a, b) => a + b, 0) - SIZE) <= 4, `kept bytes ${kept.join('+')} != ${SIZE}`);
    assert.ok(result.bytesFetched >= SIZE, 'fetched at least the file');
    assert.deepEqual(result.sources.map((s) => s.state), ['active', 'active', 'active', 'active']);
    // Each mirror was probed first (range 0-65535; the primary's probe asks for 4 MiB and goes on
    // as its first segment). Later requests for 0-65535 are cross-source audits of piece 0 (the
    // pieces here are 64 KiB), not probes.
    for (const [i, mirror] of mirrors.entries()) assert.equal(mirror.requests[0].range, i === 0 ? 'bytes=0-4194303' : 'bytes=0-65535');
  });

  it('uses the aggregate bandwidth: 4 mirrors together beat the fastest alone', async () => {
    // 4 × 2 MB/s on 6 MiB: one mirror alone needs ~3.1 s; all four need ~0.8 s.
    const small = makeArtifact(6 * MiB, 'aggregate');
    const mirrors = await Promise.all([0, 1, 2, 3].map(() => fx.mirror({ body: small, bytesPerSecond: 2e6 })));
    const dir = await fx.tempDir();
    const output = path.join(dir, 'agg.bin');
    const { result, ms } = await runJob(fx, { sources: mirrors.map((m) => ({ url: m.url })), outputPath: output });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, small);
    assert.ok(ms < 2500, `took ${ms} ms; one mirror alone needs ~3100 ms`);
    for (const [i, mirror] of mirrors.entries()) {
      assert.ok(workBytes(mirror, 64 * KiB) > 0.1 * small.length, `mirror ${i} served only ${workBytes(mirror, 64 * KiB)} bytes`);
    }
  });

  it('keeps no two requests overlapping on committed bytes except for endgame races', async () => {
    const mirrors = await Promise.all([6e6, 3e6].map((bytesPerSecond) => fx.mirror({ body, bytesPerSecond })));
    const dir = await fx.tempDir();
    const output = path.join(dir, 'two.bin');
    const run = await runJob(fx, { sources: mirrors.map((m) => ({ url: m.url })), outputPath: output, pieceSize: PIECE });
    assert.equal(run.result.ok, true, JSON.stringify(run.result.error));
    await assertFileEquals(output, body);
    // Bytes actually delivered for work = the file + what races and cut-off requests duplicated.
    // Without races the overlap would be zero; bound the waste to a few pieces per race.
    const races = run.events.filter((e) => e.kind === 'endgame' && e.message.includes('racing')).length;
    const delivered = mirrors.reduce((sum, m) => sum + workBytes(m, PIECE), 0);
    assert.ok(delivered >= SIZE, `delivered ${delivered} < ${SIZE}`);
    assert.ok(delivered - SIZE <= (races + 4) * 2 * PIECE + 2 * MiB, `duplicated ${delivered - SIZE} bytes with ${races} races`);
  });
});
