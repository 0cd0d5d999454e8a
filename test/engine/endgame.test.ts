import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import type { MirrorRequest } from '../harness/mirrorServer';
import { KiB, MiB, afterProbe, assertFileEquals, isProbe, isSpotCheck, rangeOf, runJob, useFixtures, workBytes, workRequests } from './fixtures';

describe('engine: stealing and the endgame', function () {
  this.timeout(40_000);
  const fx = useFixtures();

  it('an idle fast channel steals the back part of a slow mirror’s segment at a piece boundary', async () => {
    const PIECE = 64 * KiB;
    const size = 8 * MiB;
    const body = makeArtifact(size, 'steal');
    const fast = await fx.mirror({ body, bytesPerSecond: 8e6 });
    const slow = await fx.mirror({ body, onRequest: afterProbe({ bytesPerSecond: 200_000 }, PIECE) });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'steal.bin');
    // No trusted hash: the slow mirror joins after its spot check with all its channels, each with
    // a first segment of several pieces (with a hash it would work one piece on trial first, be
    // measured as slow, and only ever get one-piece segments, which leave nothing to steal).
    const { result, snapshots, ms } = await runJob(fx, {
      sources: [{ url: fast.url }, { url: slow.url }],
      outputPath: output,
      pieceSize: PIECE,
    });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    // The fast mirror alone needs ~1.05 s; without stealing the slow mirror's first segments
    // (up to 2 MiB each at 200 KB/s) would hold the job for ~10 s.
    assert.ok(ms < 4000, `took ${ms} ms`);

    // A request to the fast mirror that begins inside a range asked earlier from the slow one.
    const slowWork = workRequests(slow, PIECE);
    const steals: Array<{ victim: MirrorRequest; thief: MirrorRequest }> = [];
    for (const thief of workRequests(fast, PIECE)) {
      const t = rangeOf(thief)!;
      for (const victim of slowWork) {
        const v = rangeOf(victim)!;
        // A steal splits at a piece boundary (a mid-piece start is a released remainder instead).
        if (victim.startedAt <= thief.startedAt && v.start < t.start && t.start <= v.end && t.start % PIECE === 0) steals.push({ victim, thief });
      }
    }
    assert.ok(steals.length > 0, 'no request on the fast mirror began inside a slow mirror range');
    for (const { victim, thief } of steals) {
      const t = rangeOf(thief)!;
      const v = rangeOf(victim)!;
      // The slow request stopped before the stolen part: it never sent the bytes the thief took.
      assert.ok(v.start + victim.bytesSent <= t.start + PIECE, `slow request ${victim.range} sent ${victim.bytesSent} bytes, past the split at ${t.start}`);
    }
    // Snapshots show a slow-mirror segment whose end shrank while it ran.
    const ends = new Map<number, Set<number>>();
    for (const s of snapshots) for (const seg of s.segments) if (seg.sourceId === 1 && !seg.racing) (ends.get(seg.id) ?? ends.set(seg.id, new Set()).get(seg.id)!).add(seg.end);
    assert.ok([...ends.values()].some((set) => set.size > 1), 'no slow segment ever shrank');
    assert.ok(workBytes(fast, PIECE) > workBytes(slow, PIECE));
  });

  it('endgame: the job does not wait behind a 50 KB/s mirror holding the last pieces', async () => {
    const PIECE = 1 * MiB; // a slow mirror needs ~21 s for one piece
    const size = 8 * MiB;
    const body = makeArtifact(size, 'endgame');
    const fast = await fx.mirror({ body, bytesPerSecond: 8e6 }); // alone: ~1.05 s
    const slow = await fx.mirror({ body, onRequest: afterProbe({ bytesPerSecond: 50_000 }, PIECE) });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'endgame.bin');
    const { result, events, ms } = await runJob(fx, {
      sources: [{ url: fast.url }, { url: slow.url }],
      outputPath: output,
      pieceSize: PIECE,
      expected: { sha256: sha256Hex(body) },
    });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.ok(ms < 10_000, `took ${ms} ms behind a 50 KB/s mirror`);
    // The slow mirror did get work, and its unfinished pieces were raced by the fast one.
    const slowWork = workRequests(slow, PIECE);
    assert.ok(slowWork.length > 0, 'the slow mirror never got work: the test proves nothing');
    assert.ok(events.some((e) => e.kind === 'endgame' && e.sourceId === 0 && /racing bytes/.test(e.message)), 'no endgame race');
    const slowPieces = new Set(slowWork.map((r) => Math.floor(rangeOf(r)!.start / PIECE)));
    const racedOnFast = workRequests(fast, PIECE).filter((r) => {
      const range = rangeOf(r)!;
      return range.start % PIECE === 0 && range.end + 1 - range.start <= PIECE && slowPieces.has(range.start / PIECE);
    });
    assert.ok(racedOnFast.length > 0, 'the fast mirror never fetched a piece the slow one held');
    assert.ok(workBytes(slow, PIECE) < PIECE, 'the slow mirror could not have delivered a whole piece');
  });

  // Regression: found by this suite, fixed in 18f8a8c. Before: a racer that finished first lost its
  // piece: the victim's release() re-opened the piece and the victim's own channel took it straight back
  // (endless re-races).
  it('endgame: a racer that finishes first wins its piece (the same piece is not fetched again and again)', async () => {
    const PIECE = 64 * KiB;
    const size = 8 * MiB;
    const body = makeArtifact(size, 'pingpong');
    const fast = await fx.mirror({ body, bytesPerSecond: 2e6 });
    const trickle = await fx.mirror({ body, onRequest: afterProbe({ bytesPerSecond: 20_000 }, PIECE) });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'pingpong.bin');
    const { result, events } = await runJob(fx, { sources: [{ url: fast.url }, { url: trickle.url }], outputPath: output, pieceSize: PIECE });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const counts = new Map<string, number>();
    for (const request of fast.requests) if (!isProbe(request) && !isSpotCheck(request, PIECE)) counts.set(request.range!, (counts.get(request.range!) ?? 0) + 1);
    const repeated = [...counts].filter(([, n]) => n > 2);
    const races = events.filter((e) => e.kind === 'endgame' && /racing bytes/.test(e.message)).length;
    const wins = events.filter((e) => e.kind === 'endgame' && /won the race/.test(e.message)).length;
    assert.deepEqual(repeated, [], `ranges fetched more than twice from the fast mirror (${races} races, ${wins} won)`);
    assert.ok(workBytes(fast, PIECE) <= size + 8 * PIECE, `the fast mirror served ${workBytes(fast, PIECE)} bytes for a ${size}-byte file`);
  });

  // Regression: found by this suite, fixed in 18f8a8c. Before: onPieces credited pieceLength /
  // senders.length to every sender of a continued piece (a slow mirror that sent 90 KB was credited 1.5
  // MB).
  it('reports per-source kept bytes no larger than what each mirror actually sent', async () => {
    const PIECE = 1 * MiB;
    const size = 8 * MiB;
    const body = makeArtifact(size, 'credit');
    const fast = await fx.mirror({ body, bytesPerSecond: 8e6 });
    const slow = await fx.mirror({ body, onRequest: afterProbe({ bytesPerSecond: 50_000 }, PIECE) });
    const dir = await fx.tempDir();
    const { result } = await runJob(fx, { sources: [{ url: fast.url }, { url: slow.url }], outputPath: path.join(dir, 'credit.bin'), pieceSize: PIECE });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    const sent = workBytes(slow, PIECE);
    assert.ok(sent > 0, 'the slow mirror got no work: the test proves nothing');
    assert.ok(result.sources[1].bytes <= sent, `slow mirror credited ${result.sources[1].bytes} bytes but sent only ${sent}`);
    assert.ok(result.sources[0].bytes >= size - sent);
  });
});
