import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { KiB, MiB, afterProbe, assertFileEquals, firstGap, isProbe, isSpotCheck, rangeOf, runJob, useFixtures } from './fixtures';

describe('engine: slow and stalling links', function () {
  this.timeout(30_000);
  const fx = useFixtures();
  const PIECE = 64 * KiB;

  it('a mirror that stalls mid-body: its remainder is fetched from the other mirror, from the exact byte', async () => {
    const size = 4 * MiB;
    const body = makeArtifact(size, 'stall');
    const fast = await fx.mirror({ body, bytesPerSecond: 8e6 });
    // After 400 000 bytes in total the mirror goes silent (socket open, no bytes) for good.
    const stalling = await fx.mirror({ body, bytesPerSecond: 4e6, stallAfterBytes: { afterBytes: 400_000, scope: 'total' } });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'stall.bin');
    const { result, events, ms } = await runJob(fx, {
      sources: [{ url: fast.url }, { url: stalling.url }],
      outputPath: output,
      pieceSize: PIECE,
      expected: { sha256: sha256Hex(body) },
    });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.ok(ms < 8000, `took ${ms} ms: the stalled remainder waited for the 5 s stall timeout or longer`);

    // The request that stalled part-way: it delivered some bytes, then nothing.
    const stalled = stalling.requests.find((r) => r.outcome === 'stalled' && r.bytesSent > 0);
    assert.ok(stalled, 'no request stalled mid-body');
    const range = rangeOf(stalled)!;
    const stoppedAt = range.start + stalled.bytesSent;
    assert.ok(stoppedAt <= range.end, 'the stall happened inside the body');
    // The rest of the stalled range was asked from the fast mirror...
    const fromFast = fast.requests.filter((r) => r.startedAt >= stalled.startedAt && r.status === 206).map((r) => rangeOf(r)!);
    const covering = fromFast.filter((r) => r.start <= stoppedAt && r.end >= stoppedAt);
    assert.ok(covering.length > 0, `the fast mirror was never asked for byte ${stoppedAt}`);
    assert.equal(firstGap([{ start: 0, end: stoppedAt - 1 }, ...fromFast], range.end + 1), -1, 'part of the stalled remainder was never asked from the fast mirror');
    // ...continuing at the exact byte where the stall stopped (bytes before it were kept), unless the
    // whole piece was won by an endgame racer (then the piece was replaced as one unit).
    const exact = covering.some((r) => r.start === stoppedAt);
    const pieceIndex = Math.floor(stoppedAt / PIECE);
    const raced = events.some((e) => e.kind === 'endgame' && e.message.includes(`won the race for piece ${pieceIndex}`));
    assert.ok(exact || raced, `no request starts at ${stoppedAt}; ranges asked: ${covering.map((r) => `${r.start}-${r.end}`).join(', ')}`);
    assert.equal(result.sources[1].strikes, 0, 'a stall is not corruption');
  });

  it('a mirror that stalls once resumes the piece itself at the exact byte when it is healthy again', async () => {
    const size = 4 * MiB;
    const body = makeArtifact(size, 'stall-once');
    const fast = await fx.mirror({ body, bytesPerSecond: 8e6 });
    const once = await fx.mirror({ body, bytesPerSecond: 4e6, stallAfterBytes: { afterBytes: 100_000, times: 1 } });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'once.bin');
    const { result } = await runJob(fx, { sources: [{ url: fast.url }, { url: once.url }], outputPath: output, pieceSize: PIECE });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const stalled = once.requests.find((r) => r.outcome === 'stalled');
    assert.ok(stalled, 'the mirror never stalled');
    assert.equal(stalled.bytesSent, 100_000);
    const stoppedAt = rangeOf(stalled)!.start + 100_000;
    const all = [...fast.requests, ...once.requests].filter((r) => r.startedAt > stalled.startedAt).map((r) => rangeOf(r)!);
    assert.ok(all.some((r) => r.start <= stoppedAt && r.end >= stoppedAt), `nobody was asked for byte ${stoppedAt} after the stall`);
    assert.ok(
      all.some((r) => r.start === stoppedAt) || all.some((r) => r.start === Math.floor(stoppedAt / PIECE) * PIECE),
      `the remainder did not continue at ${stoppedAt} (or its piece start)`,
    );
  });

  it('a trickle mirror below minSourceSpeed is dropped as slow; its remainder continues elsewhere and the job finishes', async () => {
    const size = 8 * MiB;
    const body = makeArtifact(size, 'trickle');
    const fast = await fx.mirror({ body, bytesPerSecond: 2e6 }); // ~4.2 s alone: longer than the 3 s grace
    // Full speed for the probe and spot check (so it joins at once), then 20 KB/s.
    const trickle = await fx.mirror({ body, onRequest: afterProbe({ bytesPerSecond: 20_000 }, PIECE) });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'trickle.bin');
    const { result, events, snapshots, ms } = await runJob(fx, {
      sources: [{ url: fast.url }, { url: trickle.url }],
      outputPath: output,
      pieceSize: PIECE,
      minSourceSpeed: 64 * KiB,
      expected: { sha256: sha256Hex(body) },
    });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.ok(ms < 12_000, `took ${ms} ms`);

    const drop = events.find((e) => e.kind === 'dropped' && e.sourceId === 1 && /below the minimum speed/.test(e.message));
    assert.ok(drop, `no slow drop: ${events.map((e) => `${e.kind} ${e.message}`).join('\n')}`);
    assert.ok(snapshots.some((s) => s.sources[1].state === 'slow'), 'the trickle source never showed as slow');
    // Its work requests stopped at the drop (the 15 s backoff outlasts the job).
    const work = trickle.requests.filter((r) => !isProbe(r) && !isSpotCheck(r, PIECE));
    assert.ok(work.length > 0, 'the trickle mirror never got work');
    for (const request of work) assert.ok(request.startedAt <= drop.at + 50, `request ${request.range} after the drop`);
    // Each dropped channel's remainder went to the fast mirror from the exact byte it stopped at.
    const remainders = events
      .filter((e) => e.kind === 'dropped' && e.sourceId === 1)
      .map((e) => /bytes from (\d+) continue elsewhere/.exec(e.message))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]));
    assert.ok(remainders.length > 0, 'no remainder was handed over');
    const fastRanges = fast.requests.filter((r) => r.startedAt >= drop.at - 50).map((r) => rangeOf(r)!);
    for (const offset of remainders) {
      assert.ok(fastRanges.some((r) => r.start === offset), `no request on the fast mirror starts at ${offset}`);
    }
    // The trickle mirror delivered little; the report shows it as slow with the reason.
    assert.equal(result.sources[1].state, 'slow');
    assert.match(result.sources[1].reason, /minimum speed/);
    assert.ok(result.sources[1].bytes < 0.1 * size);
  });
});
