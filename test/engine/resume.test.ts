import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import type { Mirror } from '../harness/mirrorServer';
import {
  KiB,
  MiB,
  PROBE_BYTES,
  SPOT_BYTES,
  assertFileEquals,
  buildCli,
  exists,
  firstGap,
  isProbe,
  rangeOf,
  readJournalDone,
  runCli,
  runJob,
  sleep,
  startCli,
  statePaths,
  useFixtures,
  waitFor,
} from './fixtures';

describe('engine: resume', function () {
  this.timeout(40_000);
  const fx = useFixtures();
  const PIECE = 64 * KiB;

  before(async function () {
    this.timeout(60_000);
    await buildCli();
  });

  /** Bytes a mirror serves from now on. */
  function meter(mirror: Mirror): () => number {
    const start = mirror.bytesServed;
    return () => mirror.bytesServed - start;
  }

  it('kill -9 of the CLI mid-download, then a second run completes fetching only what was not journaled', async () => {
    const size = 8 * MiB;
    const body = makeArtifact(size, 'kill9');
    const mirror = await fx.mirror({ body, bytesPerSecond: 3e6 }); // ~2.8 s for the file
    const dir = await fx.tempDir();
    const output = path.join(dir, 'killed.bin');
    const { journal, part, lock } = statePaths(output);
    const args = ['get', mirror.url, '-o', output, '--piece-size', String(PIECE), '--json', '-q', '--sha256', sha256Hex(body)];

    const first = await startCli(args);
    fx.defer(() => first.kill('SIGKILL'));
    // Wait for a journal with a good share of done pieces, read it, and kill at once.
    let saved: Awaited<ReturnType<typeof readJournalDone>>;
    await waitFor(async () => {
      saved = await readJournalDone(journal);
      return saved !== undefined && saved.done.length >= 40;
    }, 15_000, 'a journal with 40 done pieces', 10);
    first.kill('SIGKILL');
    const killed = await first.done;
    assert.equal(killed.signal, 'SIGKILL');
    await sleep(100);
    assert.equal(await exists(output), false, 'a killed run left a file at the output path');
    assert.equal(await exists(part), true);
    assert.equal(await exists(lock), true, 'the killed run’s lock file is expected to stay behind');
    const journaled = saved!.done.length * PIECE;
    assert.ok(journaled < size, 'the first run finished before the kill: the test proves nothing');

    const served = meter(mirror);
    const requestsBefore = mirror.requests.length;
    const second = await runCli(args, 20_000);
    assert.equal(second.code, 0, second.stderr);
    const result = JSON.parse(second.stdout) as { ok: boolean; sha256: string; bytesResumed: number; bytesFetched: number };
    assert.equal(result.ok, true);
    assert.equal(result.sha256, sha256Hex(body));
    await assertFileEquals(output, body);
    assert.equal(await exists(lock), false, 'the stale lock was not taken over and released');
    assert.equal(await exists(journal), false);

    // The second run re-verified at least what the journal listed, and fetched only the rest.
    assert.ok(result.bytesResumed >= journaled, `bytesResumed ${result.bytesResumed} < journaled ${journaled}`);
    // In-flight allowance: the probe, the spot check (none with one mirror), and per connection
    // one piece that may be cut or duplicated.
    const allowance = PROBE_BYTES + SPOT_BYTES + 4 * PIECE + 128 * KiB;
    assert.ok(served() <= size - journaled + allowance, `second run fetched ${served()} bytes; ${size - journaled} were missing (journal listed ${saved!.done.length} pieces)`);
    // And it never asked for a journaled piece (besides the probe at byte 0).
    const doneSet = new Set(saved!.done);
    for (const request of mirror.requests.slice(requestsBefore)) {
      if (isProbe(request)) continue;
      const range = rangeOf(request)!;
      for (let index = Math.floor(range.start / PIECE); index * PIECE <= range.end; index++) {
        assert.ok(!doneSet.has(index), `second run asked for journaled piece ${index} (${request.range})`);
      }
    }
  });

  /** Runs an in-process job until `pieces` pieces are journaled, then cancels it (state kept). */
  async function interruptedRun(mirror: Mirror, output: string, pieces: number, sha256: string): Promise<number[]> {
    const { journal } = statePaths(output);
    // Same options as the later run (the journal is bound to the expected hash).
    const { result } = await runJob(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256 } }, {
      onStart: (job) => {
        void waitFor(async () => ((await readJournalDone(journal))?.done.length ?? 0) >= pieces, 15_000, `${pieces} journaled pieces`).then(() => job.cancel());
      },
    });
    assert.equal(result.error?.code, 'E_INTERRUPTED', JSON.stringify(result.error));
    const saved = await readJournalDone(journal);
    assert.ok(saved && saved.done.length >= pieces);
    mirror.update({ bytesPerSecond: 8e6 }); // the next run may be quick
    return saved.done;
  }

  it('a corrupted journal (one byte flipped) is ignored: the download starts over cleanly and the file is right', async () => {
    const size = 4 * MiB;
    const body = makeArtifact(size, 'bad-journal');
    const mirror = await fx.mirror({ body, bytesPerSecond: 1.5e6 });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'journal.bin');
    const { journal, part } = statePaths(output);
    const done = await interruptedRun(mirror, output, 10, sha256Hex(body));
    assert.ok(done.length < size / PIECE);

    // Flip one byte inside the journal body (a digit of the piece list), keeping the old checksum.
    const outer = JSON.parse(await fsp.readFile(journal, 'utf8')) as { format: string; checksum: string; body: string };
    const at = outer.body.indexOf('"done":[') + '"done":['.length;
    assert.ok(at > 8, 'unexpected journal layout');
    outer.body = outer.body.slice(0, at) + (outer.body[at] === '9' ? '8' : '9') + outer.body.slice(at + 1);
    await fsp.writeFile(journal, JSON.stringify(outer));
    // Control: the same journal unflipped would have been used (it lists pieces of this layout).
    assert.ok(done.length >= 10);
    // Also make the .part lie in a journaled piece, so trusting the journal would corrupt the file.
    const handle = await fsp.open(part, 'r+');
    await handle.write(Buffer.alloc(PIECE, 0xee), 0, PIECE, done[0] * PIECE);
    await handle.close();

    const served = meter(mirror);
    const { result, events } = await runJob(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.equal(result.bytesResumed, 0, 'pieces were reused from a journal that fails its checksum');
    assert.ok(events.some((e) => /starting over/.test(e.message) && /checksum|JSON|journal/.test(e.message)), 'no "starting over" event');
    assert.ok(served() >= size, `fetched only ${served()} of ${size} bytes after discarding the journal`);
  });

  it('zeroed pieces in the .part that the journal claims done are re-hashed, detected and fetched again', async () => {
    const size = 4 * MiB;
    const body = makeArtifact(size, 'zeroed');
    const mirror = await fx.mirror({ body, bytesPerSecond: 1.5e6 });
    const dir = await fx.tempDir();
    const output = path.join(dir, 'zeroed.bin');
    const { part } = statePaths(output);
    const done = await interruptedRun(mirror, output, 12, sha256Hex(body));
    // Zero three journaled pieces (a torn write after power loss, say).
    const zeroed = [done[1], done[5], done[done.length - 1]];
    const handle = await fsp.open(part, 'r+');
    for (const index of zeroed) await handle.write(Buffer.alloc(PIECE), 0, PIECE, index * PIECE);
    await handle.close();

    const requestsBefore = mirror.requests.length;
    const served = meter(mirror);
    const { result, events } = await runJob(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.equal(result.bytesResumed, (done.length - zeroed.length) * PIECE, 'resumed bytes should be the journaled pieces that re-hashed right');
    assert.ok(events.some((e) => /resumed/.test(e.message) && new RegExp(`${zeroed.length} did not match`).test(e.message)), events.map((e) => e.message).join('\n'));
    // The zeroed pieces were asked again; the good journaled pieces were not.
    const ranges = mirror.requests.slice(requestsBefore).filter((r) => !isProbe(r)).map((r) => rangeOf(r)!);
    for (const index of zeroed) {
      assert.equal(firstGap([{ start: 0, end: index * PIECE - 1 }, ...ranges], (index + 1) * PIECE), -1, `zeroed piece ${index} was not fetched again`);
    }
    const kept = new Set(done.filter((i) => !zeroed.includes(i)));
    for (const range of ranges) {
      for (let index = Math.floor(range.start / PIECE); index * PIECE <= range.end; index++) assert.ok(!kept.has(index), `re-fetched verified piece ${index}`);
    }
    assert.ok(served() <= size - (done.length - zeroed.length) * PIECE + PROBE_BYTES + 4 * PIECE + 128 * KiB);
  });
});
