/**
 * RELIABILITY.md §E, crash and resume: kill -9 at random points (a few here; 20 in
 * crashResume.slow.ts, `npm run test:load`), a worker terminated inside a plain Node host, torn or
 * edited journals, data lost after a "done" mark, an already complete file, changed parameters,
 * two processes on one target, a worker crash. Related: test/engine/resume.test.ts (one kill, a
 * flipped journal byte, zeroed pieces), test/worker/engineWorker.test.ts (one worker death).
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { leafHash, merkleRoot } from '../../src/engine/integrity/merkleTree';
import type { JobOptions } from '../../src/engine/jobOptions';
import type { DownloadResult, JobSnapshot } from '../../src/engine/snapshot';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import type { Mirror } from '../harness/mirrorServer';
import { startCli } from '../engine/fixtures';
import { accountResumes, crashAndResume, resumeBound, type KillReport } from './helpers/crashResume';
import {
  KiB,
  MiB,
  PROBE_BYTES,
  assertFileEquals,
  buildCli,
  buildWorker,
  etagOf,
  exists,
  interruptAfter,
  rangeOf,
  readJournalDone,
  record,
  runRel,
  sleep,
  statePaths,
  useRelFixtures,
  waitFor,
  workerClient,
  writeCompleteState,
} from './fixtures';

const PIECE = 64 * KiB;

/** Rewrites a journal's body and recomputes its checksum (an edit a checksum alone cannot catch). */
async function editJournal(file: string, edit: (body: { done: unknown[]; leaves: unknown[] }) => void): Promise<void> {
  const outer = JSON.parse(await fsp.readFile(file, 'utf8')) as { format: string; checksum: string; body: string };
  const body = JSON.parse(outer.body);
  edit(body);
  outer.body = JSON.stringify(body);
  outer.checksum = createHash('sha256').update(outer.body).digest('hex');
  await fsp.writeFile(file, JSON.stringify(outer));
}

describe('reliability §E: crash and resume', function () {
  this.timeout(60_000);
  const fx = useRelFixtures();

  before(async function () {
    this.timeout(90_000);
    await Promise.all([buildCli(), buildWorker()]);
  });

  it('R01 kill -9 of the CLI at 5 random points, resumed each time: the final SHA-256 and root are right; each resume re-fetches no more than the in-flight pieces plus one journal interval', async () => {
    const report = await crashAndResume(fx, { kills: 5, size: 12 * MiB, bytesPerSecond: 4e6 });
    for (const kill of report.kills) record({ figure: 'resume', via: 'cli', seed: report.seed, ...kill });
    assert.equal(report.kills.filter((k) => k.journaledRefetched.length > 0).length, 0, `journaled pieces fetched again (seed ${report.seed})`);
    assert.ok(report.kills.length >= 3, `only ${report.kills.length} kills landed before the download finished (seed ${report.seed})`);
    const broken = report.kills.filter((k) => !k.held);
    assert.deepEqual(broken, [], `re-fetch bound broken (seed ${report.seed})`);
  });

  it('R01 the engine worker terminated mid-job inside a plain Node host (EngineClient), three times: resumes each time, final hash right, re-fetch bounded', async () => {
    const size = 24 * MiB;
    const rate = 4e6;
    const body = makeArtifact(size, 'r01-worker');
    const sha256 = sha256Hex(body);
    const mirror = await fx.mirror({ body, bytesPerSecond: rate });
    const dir = await fx.tempDir();
    const options: JobOptions = { sources: [{ url: mirror.url }], outputPath: path.join(dir, 'w.bin'), pieceSize: PIECE, expected: { sha256 } };
    const { journal } = statePaths(options.outputPath);
    const { client, workers } = await workerClient(fx);
    const sessionStarts: number[] = [];
    const kills: KillReport[] = [];
    const journaledAtKill = new Map<number, number[]>();
    let result: DownloadResult | undefined;
    client.on('jobResult', (id, r) => { if (id === 'w') result = r; });
    for (let round = 1; round <= 3; round++) {
      sessionStarts.push(mirror.requests.length);
      await client.startJob('w', options);
      // Terminate after this session's first journal save, at a random moment (0-500 ms) after it.
      const seen = (await readJournalDone(journal))?.done.length ?? -1;
      await waitFor(async () => ((await readJournalDone(journal))?.done.length ?? -1) !== seen, 20_000, 'a journal save', 2);
      await sleep(Math.random() * 500);
      if (!client.isRunning('w')) break; // finished before the kill
      const onDisk = await readJournalDone(journal);
      journaledAtKill.set(round, onDisk?.done ?? []);
      const interrupted = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no jobInterrupted after terminate()')), 10_000);
        client.once('jobInterrupted', (id) => { clearTimeout(timer); resolve(id); });
      });
      await workers[workers.length - 1].terminate();
      assert.equal(await interrupted, 'w');
      kills.push({ kill: round, trigger: 'worker.terminate()', atMs: 0, journaled: onDisk?.done.length ?? 0, msSinceSave: -1, unjournaled: 0, refetched: 0, bound: resumeBound(4, PIECE, rate), journaledRefetched: [], held: false });
    }
    assert.ok(kills.length >= 2, `only ${kills.length} terminations landed before the download finished`);
    if (!result) {
      sessionStarts.push(mirror.requests.length);
      mirror.update({ bytesPerSecond: 16e6 }); // the last session only finishes the file
      await client.startJob('w', options);
      await waitFor(() => result !== undefined, 30_000, 'the resumed job to finish');
    }
    assert.equal(result!.ok, true, JSON.stringify(result!.error));
    assert.equal(result!.sha256, sha256);
    await assertFileEquals(options.outputPath, body);
    accountResumes(kills, mirror.requests, sessionStarts, journaledAtKill, size, PIECE);
    for (const kill of kills) record({ figure: 'resume', via: 'worker', ...kill });
    assert.deepEqual(kills.filter((k) => !k.held), [], 're-fetch bound broken after a worker termination');
  });

  it('R02 a torn (truncated) journal is ignored: no crash, the file is right, nothing from it trusted', async () => {
    const body = makeArtifact(4 * MiB, 'r02a');
    const mirror = await fx.mirror({ body, bytesPerSecond: 1.5e6 });
    const output = path.join(await fx.tempDir(), 'r02a.bin');
    await interruptAfter(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE }, 6);
    const { journal, part } = statePaths(output);
    const text = await fsp.readFile(journal);
    await fsp.writeFile(journal, text.subarray(0, Math.floor(text.length / 2)));
    const handle = await fsp.open(part, 'r+');
    await handle.write(Buffer.alloc(PIECE, 0xee), 0, PIECE, 0);
    await handle.close();
    mirror.update({ bytesPerSecond: 8e6 });
    const { result, events } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.equal(result.bytesResumed, 0);
    assert.ok(events.some((e) => /starting over/.test(e.message)), 'no "starting over" event');
  });

  it('R02 a leftover journal temp file (killed between write and rename) does not disturb the real journal', async () => {
    const body = makeArtifact(4 * MiB, 'r02b');
    const mirror = await fx.mirror({ body, bytesPerSecond: 1.5e6 });
    const output = path.join(await fx.tempDir(), 'r02b.bin');
    const done = await interruptAfter(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE }, 6);
    const { journal } = statePaths(output);
    await fsp.writeFile(`${journal}.tmp`, '{"format":"artifact-fetch/journal@1","checksum":"00","body":"{\\"done\\":[0,1,2');
    mirror.update({ bytesPerSecond: 8e6 });
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.equal(result.bytesResumed, done.length * PIECE, 'the real journal was not used');
  });

  it('R02 an edited journal with a valid checksum (wrong leaves, garbage on disk, bad indexes) never makes unverified pieces count', async () => {
    const body = makeArtifact(4 * MiB, 'r02c');
    const sha256 = sha256Hex(body);
    const mirror = await fx.mirror({ body, bytesPerSecond: 1.5e6 });
    const output = path.join(await fx.tempDir(), 'r02c.bin');
    const done = await interruptAfter(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256 } }, 5);
    const { journal, part } = statePaths(output);
    const notDone = Array.from({ length: 64 }, (_, i) => i).filter((i) => !done.includes(i)).slice(0, 3);
    // Claims pieces that were never fetched (their leaves made up), plus junk entries.
    await editJournal(journal, (j) => {
      for (const index of notDone) {
        j.done.push(index);
        j.leaves.push('00'.repeat(32));
      }
      j.done.push(-1, 10_000, 2.5, 'x', done[0]);
      j.leaves.push('ab', 'cd', 'ef', 'gh', j.leaves[0]);
    });
    // And garbage on disk under a journaled piece whose leaf is right.
    const handle = await fsp.open(part, 'r+');
    await handle.write(Buffer.alloc(PIECE, 0x11), 0, PIECE, done[1] * PIECE);
    await handle.close();
    mirror.update({ bytesPerSecond: 8e6 });
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256 } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.ok(result.bytesResumed <= (done.length - 1) * PIECE, `resumed ${result.bytesResumed} bytes; at most ${done.length - 1} pieces were really on disk`);
  });

  it('R03 data lost after the "done" mark (the .part cut short, a region zeroed): re-hashed on resume, detected and fetched again', async () => {
    const size = 4 * MiB;
    const body = makeArtifact(size, 'r03');
    const mirror = await fx.mirror({ body, bytesPerSecond: 1.5e6 });
    const output = path.join(await fx.tempDir(), 'r03.bin');
    const done = await interruptAfter(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE }, 10);
    const { part } = statePaths(output);
    const sorted = [...done].sort((a, b) => a - b);
    // Power loss: the file ends in the middle of the journaled pieces; one earlier piece zeroed.
    const cut = sorted[Math.floor(sorted.length / 2)] * PIECE + 1000;
    await fsp.truncate(part, cut);
    const zeroed = sorted[0];
    const handle = await fsp.open(part, 'r+');
    await handle.write(Buffer.alloc(PIECE), 0, PIECE, zeroed * PIECE);
    await handle.close();
    const lost = new Set([zeroed, ...sorted.filter((i) => (i + 1) * PIECE > cut)]);
    mirror.update({ bytesPerSecond: 8e6 });
    const requestsBefore = mirror.requests.length;
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.equal(result.bytesResumed, (done.length - lost.size) * PIECE, 'resumed bytes should be the journaled pieces still intact');
    // (The probe's 64 KiB sample may refill piece 0.)
    const asked = mirror.requests.slice(requestsBefore).map((r) => rangeOf(r)!);
    for (const index of lost) {
      assert.ok(asked.some((r) => r.start <= index * PIECE && r.end >= (index + 1) * PIECE - 1), `lost piece ${index} was not fetched again`);
    }
  });

  it('R06 already complete locally (every piece journaled, killed before the publish): verified and published with no piece fetched again', async () => {
    const size = 1 * MiB;
    const body = makeArtifact(size, 'r06');
    const sha256 = sha256Hex(body);
    const mirror = await fx.mirror({ body });
    const output = path.join(await fx.tempDir(), 'r06.bin');
    const etag = await etagOf(mirror);
    await writeCompleteState(output, body, mirror.url, etag, sha256);
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256 } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.equal(result.bytesResumed, size);
    // Only the probe (its 64 KiB sample is how the engine learns size and validator): no work request.
    const gets = mirror.requests.filter((r) => r.method === 'GET');
    assert.deepEqual(gets.map((r) => r.range), [`bytes=0-${PROBE_BYTES - 1}`]);
    record({ figure: 'resume', via: 'complete', refetched: gets.reduce((s, r) => s + r.bytesSent, 0), bound: PROBE_BYTES, held: true });
  });

  it('R06 already complete locally and the server answers 416 */size: success with 0 body bytes', async () => {
    const size = 1 * MiB;
    const body = makeArtifact(size, 'r06b');
    const sha256 = sha256Hex(body);
    const mirror = await fx.mirror({ body, etag: '"r06b"' });
    const output = path.join(await fx.tempDir(), 'r06b.bin');
    await writeCompleteState(output, body, mirror.url, '"r06b"', sha256);
    mirror.update({ onRequest: (_req, res, { entry }) => { entry.status = 416; res.writeHead(416, { 'Content-Range': `bytes */${size}`, ETag: '"r06b"', 'Content-Length': '0' }); res.end(); return true; } });
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256 } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.equal(result.bytesFetched, 0);
  });

  it('R07 the piece size, the trusted root or the expected hash changed between sessions: no piece accepted under the old parameters', async () => {
    const size = 4 * MiB;
    const v1 = makeArtifact(size, 'r07-v1');
    const v2 = makeArtifact(size, 'r07-v2');
    // Piece size changed (64 KiB → 128 KiB).
    const m1 = await fx.mirror({ body: v1, bytesPerSecond: 2e6 });
    const out1 = path.join(await fx.tempDir(), 'r07a.bin');
    await interruptAfter(fx, { sources: [{ url: m1.url }], outputPath: out1, pieceSize: PIECE }, 6);
    m1.update({ bytesPerSecond: 8e6 });
    const a = await runRel(fx, { sources: [{ url: m1.url }], outputPath: out1, pieceSize: 2 * PIECE, expected: { sha256: sha256Hex(v1) } });
    assert.equal(a.result.ok, true, JSON.stringify(a.result.error));
    await assertFileEquals(out1, v1);
    assert.equal(a.result.bytesResumed, 0, 'pieces journaled under another piece size were reused');

    // A new trusted manifest (v2) for the same URL: the v1 pieces must not pass.
    const leaves2: Buffer[] = [];
    for (let o = 0; o < size; o += PIECE) leaves2.push(leafHash(v2.subarray(o, o + PIECE)));
    const root2 = merkleRoot(leaves2).toString('hex');
    let serve = v1;
    const m2 = await fx.mirror({
      body: v1,
      bytesPerSecond: 1.5e6,
      onRequest: (req, res, { entry }) => {
        if (serve === v1) return false;
        const [, s, e] = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '') ?? [];
        entry.status = 206;
        res.writeHead(206, { 'Content-Range': `bytes ${s}-${e}/${size}`, 'Content-Length': String(Number(e) - Number(s) + 1), ETag: '"v2"' });
        res.end(v2.subarray(Number(s), Number(e) + 1));
        return true;
      },
    });
    const out2 = path.join(await fx.tempDir(), 'r07b.bin');
    await interruptAfter(fx, { sources: [{ url: m2.url }], outputPath: out2, pieceSize: PIECE }, 6);
    serve = v2;
    const b = await runRel(fx, { sources: [{ url: m2.url }], outputPath: out2, pieceSize: PIECE, expected: { size, pieceSize: PIECE, root: root2, leaves: leaves2.map((l) => l.toString('hex')) } }, { trustedSha256: sha256Hex(v2) });
    assert.equal(b.result.ok, true, JSON.stringify(b.result.error));
    await assertFileEquals(out2, v2);
    assert.equal(b.result.bytesResumed, 0, 'pieces verified under the old manifest were reused');

    // Only the expected SHA-256 changed: the old state is not trusted for the new commitment.
    const m3 = await fx.mirror({ body: v1, bytesPerSecond: 2e6 });
    const out3 = path.join(await fx.tempDir(), 'r07c.bin');
    await interruptAfter(fx, { sources: [{ url: m3.url }], outputPath: out3, pieceSize: PIECE, expected: { sha256: 'ab'.repeat(32) } }, 6);
    m3.update({ bytesPerSecond: 8e6 });
    const c = await runRel(fx, { sources: [{ url: m3.url }], outputPath: out3, pieceSize: PIECE, expected: { sha256: sha256Hex(v1) } });
    assert.equal(c.result.ok, true, JSON.stringify(c.result.error));
    assert.equal(c.result.bytesResumed, 0);
  });

  it('R08 two CLI processes on the same target at once: one downloads, the other gets E_LOCKED (exit 9) or waits; the file is verified; no interleaved writes', async () => {
    const body = makeArtifact(4 * MiB, 'r08');
    const sha256 = sha256Hex(body);
    // One mirror per process, so every request can be attributed to its process.
    const m1 = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const m2 = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const output = path.join(await fx.tempDir(), 'r08.bin');
    const args = (m: Mirror) => ['get', m.url, '-o', output, '--sha256', sha256, '--piece-size', '64K', '--json', '-q'];
    const [p1, p2] = await Promise.all([startCli(args(m1)), startCli(args(m2))]);
    fx.defer(() => { p1.kill('SIGKILL'); p2.kill('SIGKILL'); });
    const [r1, r2] = await Promise.all([p1.done, p2.done]);
    const codes = [r1.code, r2.code].sort();
    assert.ok(codes[0] === 0 && (codes[1] === 9 || codes[1] === 0), `exit codes ${r1.code}/${r2.code}: ${r1.stderr} ${r2.stderr}`);
    await assertFileEquals(output, body);
    if (codes[1] === 9) {
      const loser = r1.code === 9 ? m1 : m2;
      assert.equal(loser.requests.length, 0, 'the process that lost the lock still fetched (and may have written) bytes');
      assert.match((r1.code === 9 ? r1 : r2).stderr, /E_LOCKED/);
    }
    assert.deepEqual((await fsp.readdir(path.join(path.dirname(output), '.artifact-fetch'))).filter((n) => n.endsWith('.part') || n.endsWith('.lock')), []);
  });

  it('R09 a worker crash mid-transfer: the host hears "interrupted", no socket stays open, a restart resumes; after "discard" no .part is left', async () => {
    const size = 8 * MiB;
    const body = makeArtifact(size, 'r09');
    const sha256 = sha256Hex(body);
    const mirror = await fx.mirror({ body, bytesPerSecond: 3e6 });
    const dir = await fx.tempDir();
    const { client, workers } = await workerClient(fx);
    const options: JobOptions = { sources: [{ url: mirror.url }], outputPath: path.join(dir, 'r09.bin'), pieceSize: PIECE, expected: { sha256 } };
    const snapshots: JobSnapshot[] = [];
    client.on('snapshot', (s) => snapshots.push(s));
    await client.startJob('r09', options);
    await waitFor(() => snapshots.some((s) => s.piecesVerified > 10), 15_000, 'pieces verified');
    await sleep(1300); // past one journal save
    const interrupted = new Promise<string>((resolve) => client.once('jobInterrupted', (id) => resolve(id)));
    await workers[workers.length - 1].terminate();
    assert.equal(await interrupted, 'r09');
    assert.equal(client.isRunning('r09'), false);
    mirror.update({ bytesPerSecond: 16e6 });
    await waitFor(() => mirror.openSockets === 0, 1000, 'the terminated worker’s sockets to close');
    const requestsAfterCrash = mirror.requests.length;
    await sleep(300);
    assert.equal(mirror.requests.length, requestsAfterCrash, 'requests after the worker died');

    const result = await new Promise<DownloadResult>((resolve) => {
      client.on('jobResult', (id, r) => { if (id === 'r09') resolve(r); });
      void client.startJob('r09', options);
    });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    assert.ok(result.bytesResumed > 0, 'nothing was resumed after the crash');
    await assertFileEquals(options.outputPath, body);

    // Crash again on another job, then the user chooses "discard": nothing is left behind.
    const other: JobOptions = { ...options, outputPath: path.join(dir, 'r09-discard.bin') };
    await client.startJob('gone', other);
    await waitFor(async () => ((await readJournalDone(statePaths(other.outputPath).journal))?.done.length ?? 0) > 0, 15_000, 'a journal');
    const interrupted2 = new Promise<string>((resolve) => client.once('jobInterrupted', (id) => resolve(id)));
    await workers[workers.length - 1].terminate();
    await interrupted2;
    const { part, journal } = statePaths(other.outputPath);
    assert.ok(await exists(part), 'the crash left no partial data (the test proves nothing)');
    await client.cancelJob('gone', true, other);
    assert.equal(await exists(part), false, 'an orphaned .part after discard');
    assert.equal(await exists(journal), false, 'an orphaned journal after discard');
    assert.equal(await exists(other.outputPath), false);
  });
});
