/**
 * RELIABILITY.md §A, server and protocol faults (HTTP). Each test is named by its catalogue id and
 * asserts the case's Pass line. Related engine tests: test/engine/constraints.test.ts (Range
 * ignored, wrong Content-Range, size mismatch, truncation, resets), test/engine/slowLink.test.ts.
 */
import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { chunkedBody, rawHttpResponse } from '../harness/rawServer';
import {
  KiB,
  MiB,
  PROBE_BYTES,
  afterProbe,
  assertFileEquals,
  etagOf,
  exists,
  isProbe,
  isSpotCheck,
  rangeOf,
  readJournalDone,
  record,
  runRel,
  sleep,
  statePaths,
  useRelFixtures,
  waitFor,
  workRequests,
  writeCompleteState,
  type Mirror,
} from './fixtures';

const PIECE = 64 * KiB;

describe('reliability §A: server and protocol faults (HTTP)', function () {
  this.timeout(40_000);
  const fx = useRelFixtures();

  /** Runs a job on `mirror` until its journal lists `pieces` done pieces, then cancels it (state kept). */
  async function interrupt(mirror: Mirror, output: string, pieces: number, extra: Partial<Parameters<typeof runRel>[1]> = {}): Promise<number[]> {
    const { journal } = statePaths(output);
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, ...extra }, {
      onStart: (job) => {
        void waitFor(async () => ((await readJournalDone(journal))?.done.length ?? 0) >= pieces, 15_000, `${pieces} journaled pieces`, 10).then(() => job.cancel());
      },
    });
    assert.equal(result.error?.code, 'E_INTERRUPTED', JSON.stringify(result.error));
    const saved = await readJournalDone(journal);
    assert.ok(saved && saved.done.length >= pieces);
    return saved.done;
  }

  /** Watches the journaled pieces of a .part while a job runs; returns the offsets where they changed. */
  function watchPieces(part: string, original: Buffer, pieces: number[]): { stop(): Promise<string[]> } {
    const changes: string[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        const now = await fsp.readFile(part).catch(() => undefined);
        if (now) {
          for (const index of pieces) {
            const a = original.subarray(index * PIECE, (index + 1) * PIECE);
            const b = now.subarray(index * PIECE, (index + 1) * PIECE);
            if (!a.equals(b)) changes.push(`piece ${index} changed in place`);
          }
        }
        await sleep(15);
      }
    })();
    return { stop: async () => { running = false; await loop; return [...new Set(changes)]; } };
  }

  it('S01 a resumed download whose source now ignores Range never appends the 200 body at an offset; the partial stays intact and the final hash matches', async () => {
    const size = 4 * MiB;
    const body = makeArtifact(size, 's01');
    const sha256 = sha256Hex(body);
    const mirror = await fx.mirror({ body, bytesPerSecond: 1.5e6 });
    const output = path.join(await fx.tempDir(), 's01.bin');
    const { part } = statePaths(output);
    const done = await interrupt(mirror, output, 10, { expected: { sha256 } });
    const before = await fsp.readFile(part);
    // Session 2: the same source answers 200 + the whole body to every Range request.
    mirror.update({ ignoreRange: true, bytesPerSecond: 8e6 });
    const watcher = watchPieces(part, before, done);
    const started = Date.now();
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256 }, deadlineMs: 15_000 });
    const changed = await watcher.stop();
    record({ figure: 'availability', healthySources: 1, ok: result.ok, ms: Date.now() - started });
    assert.deepEqual(changed, [], 'journaled pieces of the partial were overwritten or truncated in place');
    assert.equal(result.ok, true, `the one source can still serve the whole file: ${JSON.stringify(result.error)}`);
    await assertFileEquals(output, body);
  });

  it('S01 a primary that redirects (301) to a host ignoring Range: no 200 body lands at an offset, the file is exact', async () => {
    const size = 2 * MiB + 333;
    const body = makeArtifact(size, 's01b');
    const noRange = await fx.mirror({ body, ignoreRange: true, host: '127.0.0.2', bytesPerSecond: 3e6 });
    const primary = await fx.mirror({ body, redirectTo: noRange.urlFor('/moved.bin'), redirectStatus: 301 });
    const healthy = await fx.mirror({ body, bytesPerSecond: 3e6 });
    const output = path.join(await fx.tempDir(), 's01b.bin');
    // No trusted hash: only byte placement can make the file right.
    const { result } = await runRel(fx, { sources: [{ url: primary.url }, { url: healthy.url }], outputPath: output, pieceSize: PIECE });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.ok(noRange.requests.some((r) => r.status === 200), 'the redirect target never answered: the test proves nothing');
  });

  it('S02 a mirror that answers 200 (full body) to ranges starting past 0 during parallel chunking: none of its bytes at an offset, the job completes', async () => {
    const size = 3 * MiB + 17;
    const body = makeArtifact(size, 's02');
    const good = await fx.mirror({ body, bytesPerSecond: 3e6 });
    // Honest for the probe and for ranges starting at 0; 200 + the whole body for `bytes=a-b`, a > 0.
    const bad = await fx.mirror({
      body,
      bytesPerSecond: 12e6,
      onRequest: (req, res, { entry }) => {
        const start = Number(/^bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
        if (start === 0) return false;
        entry.status = 200;
        res.writeHead(200, { 'Content-Length': String(size), 'Content-Type': 'application/octet-stream' });
        res.end(body);
        return true;
      },
    });
    const output = path.join(await fx.tempDir(), 's02.bin');
    const { result } = await runRel(fx, { sources: [{ url: good.url }, { url: bad.url }], outputPath: output, pieceSize: PIECE });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const answered200 = bad.requests.filter((r) => r.status === 200);
    assert.ok(answered200.length >= 1, 'the bad mirror got no ranged work: the test proves nothing');
    assert.ok(answered200.length <= 2, `ranged work kept going to it after a 200: ${answered200.length} times`);
    assert.ok(result.sources[1].strikes >= 1 || result.sources[1].state !== 'active', 'no consequence for the 200');
  });

  it('S03 a 206 whose Content-Range does not match (start 0 for bytes=a-, "bytes bad", none) is rejected: 0 bytes written from it, an error counted', async () => {
    const size = 2 * MiB + 5;
    const body = makeArtifact(size, 's03');
    const garbage = makeArtifact(size, 's03-garbage');
    for (const lie of ['start-0', 'malformed', 'missing'] as const) {
      const good = await fx.mirror({ body, bytesPerSecond: 3e6 });
      // After its probe, the liar answers work with 206 and garbage of the right length.
      let probed = false;
      const liar = await fx.mirror({
        body,
        onRequest: (req, res, { entry }) => {
          if (!probed || isSpotCheck(entry, PIECE)) {
            probed = true;
            return false;
          }
          const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
          const start = Number(range?.[1] ?? 0);
          const end = Number(range?.[2] ?? size - 1);
          const headers: Record<string, string> = { 'Content-Length': String(end - start + 1) };
          if (lie === 'start-0') headers['Content-Range'] = `bytes 0-${end - start}/${size}`;
          if (lie === 'malformed') headers['Content-Range'] = 'bytes bad';
          entry.status = 206;
          res.writeHead(206, headers);
          res.end(garbage.subarray(start, end + 1));
          return true;
        },
      });
      const output = path.join(await fx.tempDir(), `s03-${lie}.bin`);
      const { result } = await runRel(fx, { sources: [{ url: good.url }, { url: liar.url }], outputPath: output, pieceSize: PIECE });
      assert.equal(result.ok, true, `${lie}: ${JSON.stringify(result.error)}`);
      await assertFileEquals(output, body, lie);
      assert.ok(liar.requests.length >= 2, `${lie}: the liar got no work`);
      assert.equal(result.sources[1].bytes, 0, `${lie}: bytes kept from a response with a bad Content-Range`);
      assert.ok(result.sources[1].strikes >= 1, `${lie}: no error counted against the liar`);
    }
  });

  /** State of a finished interrupted run, ready for a resume whose server answers 416. */
  async function partialState(name: string): Promise<{ body: Buffer; output: string; mirror: Mirror; done: number[]; part: Buffer }> {
    const body = makeArtifact(4 * MiB, name);
    const mirror = await fx.mirror({ body, bytesPerSecond: 1.5e6 });
    const output = path.join(await fx.tempDir(), `${name}.bin`);
    const done = await interrupt(mirror, output, 6);
    return { body, output, mirror, done, part: await fsp.readFile(statePaths(output).part) };
  }

  it('S05 416 whose Content-Range */size equals the local size: the file is complete locally, verified and published with no body re-fetched', async () => {
    const size = 1 * MiB;
    const body = makeArtifact(size, 's05a');
    const sha256 = sha256Hex(body);
    const mirror = await fx.mirror({ body });
    const output = path.join(await fx.tempDir(), 's05a.bin');
    // A completed first session: every piece journaled, killed before the publish.
    const etag = await etagOf(mirror);
    await writeCompleteState(output, body, mirror.url, etag, sha256);
    mirror.update({ onRequest: (_req, res, { entry }) => { entry.status = 416; res.writeHead(416, { 'Content-Range': `bytes */${size}`, ETag: etag, 'Content-Length': '0' }); res.end(); return true; } });
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256 } });
    assert.equal(result.ok, true, `416 */${size} with a complete local copy: ${JSON.stringify(result.error)}`);
    await assertFileEquals(output, body);
    assert.equal(mirror.bytesServed, 0, 'body bytes were fetched again');
  });

  it('S05 416 without a usable Content-Range (none, or another size): a clear error and the partial file unchanged', async () => {
    for (const contentRange of [undefined, 'bytes */999']) {
      const { output, mirror, part } = await partialState(`s05b-${contentRange ? 'other' : 'none'}`);
      mirror.update({
        onRequest: (_req, res, { entry }) => {
          entry.status = 416;
          res.writeHead(416, { ...(contentRange ? { 'Content-Range': contentRange } : {}), 'Content-Length': '0' });
          res.end();
          return true;
        },
      });
      const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE });
      assert.equal(result.ok, false);
      assert.match(result.error!.message, /416/, 'the error does not say what the server answered');
      assert.equal(await exists(output), false);
      assert.ok((await fsp.readFile(statePaths(output).part)).equals(part), 'the partial file changed');
      assert.ok(await readJournalDone(statePaths(output).journal), 'the journal is gone: the partial is no longer resumable');
    }
  });

  it('S06 transient statuses 408/429/500/502/503/504 on ranged work are retried and the job completes', async () => {
    const size = 2 * MiB;
    const body = makeArtifact(size, 's06a');
    // Three in a row per run, under the engine's budget of attempts without progress.
    for (const statuses of [[408, 429, 500], [502, 503, 504]]) {
      const mirror = await fx.mirror({ body, bytesPerSecond: 8e6, onRequest: afterProbe({ statusScript: statuses.map((status) => ({ status })) }, PIECE) });
      const output = path.join(await fx.tempDir(), 's06a.bin');
      const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) }, deadlineMs: 20_000 });
      record({ figure: 'availability', healthySources: 1, ok: result.ok });
      assert.equal(result.ok, true, `${statuses.join('/')}: ${JSON.stringify(result.error)}`);
      await assertFileEquals(output, body);
      assert.deepEqual(mirror.requests.filter((r) => r.outcome === 'scripted').map((r) => r.status), statuses);
    }
  });

  it('S06 503 twice on the probe, then 200: the job completes', async () => {
    const body = makeArtifact(1 * MiB, 's06b');
    const mirror = await fx.mirror({ body, statusScript: [{ status: 503, headers: { 'Retry-After': '1' }, times: 2 }] });
    const output = path.join(await fx.tempDir(), 's06b.bin');
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) }, deadlineMs: 20_000 });
    record({ figure: 'availability', healthySources: 1, ok: result.ok });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const [first, second, third] = mirror.requests;
    assert.deepEqual([first.status, second.status], [503, 503]);
    assert.ok(third && third.startedAt - second.startedAt >= 900, 'Retry-After: 1 was not honoured');
  });

  it('S06 Retry-After as an HTTP-date, as garbage, and huge (99999 s): honoured within bounds; a huge one never stalls the job', async () => {
    const body = makeArtifact(2 * MiB, 's06c');
    const sha256 = sha256Hex(body);
    // One source: an HTTP-date 1 s ahead, then garbage: both end in a retry soon after.
    const dated = await fx.mirror({
      body,
      bytesPerSecond: 8e6,
      onRequest: afterProbe({ statusScript: [{ status: 503, headers: { 'Retry-After': new Date(Date.now() + 2000).toUTCString() } }, { status: 429, headers: { 'Retry-After': 'soon, maybe' } }] }, PIECE),
    });
    const out1 = path.join(await fx.tempDir(), 's06c.bin');
    const first = await runRel(fx, { sources: [{ url: dated.url }], outputPath: out1, pieceSize: PIECE, connectionsPerSource: 1, expected: { sha256 }, deadlineMs: 20_000 });
    assert.equal(first.result.ok, true, JSON.stringify(first.result.error));
    assert.ok(first.ms < 12_000, `took ${first.ms} ms`);
    // Two sources; one asks for 99999 s on all work: the other finishes the job at its own pace.
    const healthy = await fx.mirror({ body, bytesPerSecond: 2e6 });
    const sleepy = await fx.mirror({ body, onRequest: afterProbe({ statusScript: [{ status: 503, headers: { 'Retry-After': '99999' }, times: 1000 }] }, PIECE) });
    const out2 = path.join(await fx.tempDir(), 's06d.bin');
    const deadlineMs = 20_000;
    const second = await runRel(fx, { sources: [{ url: healthy.url }, { url: sleepy.url }], outputPath: out2, pieceSize: PIECE, expected: { sha256 }, deadlineMs });
    record({ figure: 'availability', healthySources: 1, ok: second.result.ok, ms: second.ms, boundMs: deadlineMs });
    assert.equal(second.result.ok, true, JSON.stringify(second.result.error));
    await assertFileEquals(out2, body);
    // ~1.05 s alone at 2 MB/s; a stall on the huge Retry-After would take minutes.
    assert.ok(second.ms < 6000, `took ${second.ms} ms`);
  });

  it('S07 a mirror answering 401/403/404/410 is asked at most once for the file; the others finish it', async () => {
    const body = makeArtifact(1 * MiB + 1, 's07');
    for (const status of [401, 403, 404, 410]) {
      const good = await fx.mirror({ body, bytesPerSecond: 4e6 });
      const refusing = await fx.mirror({ body, statusScript: [{ status, times: 1000 }] });
      const output = path.join(await fx.tempDir(), `s07-${status}.bin`);
      const { result } = await runRel(fx, { sources: [{ url: good.url }, { url: refusing.url }], outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) } });
      assert.equal(result.ok, true, `${status}: ${JSON.stringify(result.error)}`);
      await assertFileEquals(output, body);
      assert.ok(refusing.requests.length <= 1, `${status}: asked ${refusing.requests.length} times`);
      assert.match(result.sources[1].reason, new RegExp(String(status)));
    }
    // All mirrors refuse: one error naming each mirror's cause.
    const a = await fx.mirror({ body, statusScript: [{ status: 404, times: 100 }] });
    const b = await fx.mirror({ body, statusScript: [{ status: 410, times: 100 }] });
    const output = path.join(await fx.tempDir(), 's07-none.bin');
    const { result } = await runRel(fx, { sources: [{ url: a.url }, { url: b.url }], outputPath: output, pieceSize: PIECE });
    assert.equal(result.error?.code, 'E_NO_USABLE_SOURCE');
    assert.match(result.error!.message, /404/);
    assert.match(result.error!.message, /410/);
    assert.equal(a.requests.length + b.requests.length, 2);
  });

  it('S08 a body truncated before its Content-Length is never "complete": the next request starts at or before the cut, and an always-truncating source fails the job', async () => {
    const size = 2 * MiB;
    const body = makeArtifact(size, 's08');
    const mirror = await fx.mirror({ body, bytesPerSecond: 8e6, onRequest: afterProbe({ truncateAfterBytes: { afterBytes: 100_000, times: 3 } }, PIECE) });
    const output = path.join(await fx.tempDir(), 's08.bin');
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const truncated = mirror.requests.filter((r) => r.outcome === 'truncated');
    assert.ok(truncated.length >= 1, 'nothing was truncated');
    for (const cut of truncated) {
      const stop = rangeOf(cut)!.start + cut.bytesSent;
      const next = mirror.requests.filter((r) => r.startedAt >= cut.startedAt && r !== cut).map((r) => rangeOf(r)!).find((r) => r.start <= stop && r.end >= stop);
      assert.ok(next, `byte ${stop} was never asked again`);
      assert.ok(next.start >= Math.floor(stop / PIECE) * PIECE && next.start <= stop, `resumed at ${next.start}, cut at ${stop}`);
    }
    // A source that cuts every work response before a single byte: the job fails, no file.
    const empty = await fx.mirror({ body, onRequest: afterProbe({ truncateAfterBytes: 0 }, PIECE) });
    const out2 = path.join(await fx.tempDir(), 's08-empty.bin');
    const states: string[] = [];
    const failed = await runRel(fx, { sources: [{ url: empty.url }], outputPath: out2, pieceSize: PIECE, deadlineMs: 25_000 }, { onStart: (job) => job.on('state', (s: string) => states.push(s)) });
    assert.equal(failed.result.ok, false);
    assert.ok(!states.includes('completed') && !states.includes('verifying'), `states: ${states.join(' ')}`);
    assert.equal(await exists(out2), false);
  });

  it('S09 a chunked body cut before its last chunk raises an error; nothing from it is marked complete', async () => {
    const size = 256 * KiB;
    const body = makeArtifact(size, 's09');
    /** Honest chunked 206 for the probe and spot check; work responses stop after 10 000 bytes, no last chunk. */
    const script = (truncateWork: boolean) => (request: { head: string }) => {
      const match = /\r\nrange: bytes=(\d+)-(\d+)/i.exec(request.head);
      const start = Number(match?.[1] ?? 0);
      const end = Math.min(Number(match?.[2] ?? size - 1), size - 1);
      const slice = body.subarray(start, end + 1);
      const headers: Array<[string, string]> = [['Content-Range', `bytes ${start}-${end}/${size}`], ['Transfer-Encoding', 'chunked'], ['Accept-Ranges', 'bytes'], ['ETag', '"s09"']];
      const honest = start === 0 && end === PROBE_BYTES - 1;
      if (!truncateWork || honest || end - start + 1 === 16 * KiB) return [rawHttpResponse(206, headers, chunkedBody([slice]))];
      return [rawHttpResponse(206, headers, chunkedBody([slice.subarray(0, 10_000)], { terminate: false })), 'end' as const];
    };
    // Alone: every cut body is an error; the bytes before the cut are kept and the rest asked again.
    const only = await fx.raw(script(true));
    const output = path.join(await fx.tempDir(), 's09.bin');
    const alone = await runRel(fx, { sources: [{ url: only.url('/artifact.bin') }], outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) }, deadlineMs: 30_000 });
    assert.equal(alone.result.ok, true, JSON.stringify(alone.result.error));
    await assertFileEquals(output, body);
    const work = only.requests.map((r) => /\r\nrange: bytes=(\d+)-(\d+)/i.exec(r.head)).filter((m): m is RegExpExecArray => !!m).map((m) => ({ start: Number(m[1]), end: Number(m[2]) }))
      .filter((r) => !(r.start === 0 && r.end === PROBE_BYTES - 1));
    // 10 000 bytes per response: a cut body taken as complete would need far fewer requests.
    assert.ok(work.length >= Math.floor(size / 10_000), `${work.length} work requests for ${size} bytes cut every 10 000`);
    for (const r of work) {
      if (r.end - r.start + 1 <= 10_000) continue;
      const cut = r.start + 10_000;
      assert.ok(work.some((n) => n.start <= cut && n.end >= cut && n !== r), `byte ${cut} after a cut chunked body was never asked again`);
    }

    const good = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const cutting = await fx.raw(script(true));
    const out2 = path.join(await fx.tempDir(), 's09-mixed.bin');
    const mixed = await runRel(fx, { sources: [{ url: good.url }, { url: cutting.url('/artifact.bin') }], outputPath: out2, pieceSize: PIECE, expected: { sha256: sha256Hex(body) } });
    assert.equal(mixed.result.ok, true, JSON.stringify(mixed.result.error));
    await assertFileEquals(out2, body);
  });

  it('S11 redirect loops, too many hops, conflicting Location headers and a 3xx without Location stop within the hop limit with a clear error', async () => {
    const body = makeArtifact(1 * MiB, 's11');
    const good = await fx.mirror({ body, bytesPerSecond: 8e6 });
    const loop = await fx.mirror({ body, redirectTo: (req) => (req.url?.startsWith('/a') ? '/b' : '/a') });
    const chain = await fx.mirror({ body, redirectTo: (req) => `/hop${Number(/\d+/.exec(req.url ?? '')?.[0] ?? 0) + 1}` });
    const twoLocations = await fx.raw([rawHttpResponse(302, [['Location', '/x'], ['Location', 'http://127.0.0.2:9/y'], ['Content-Length', '0']])]);
    const noLocation = await fx.mirror({ body, statusScript: [{ status: 302, times: 100 }] });
    const cases: Array<[string, string, () => number, RegExp]> = [
      ['loop', loop.urlFor('/a'), () => loop.requests.length, /loop/i],
      ['too many hops', chain.urlFor('/hop0'), () => chain.requests.length, /redirect/i],
      ['two Location headers', twoLocations.url('/artifact.bin'), () => twoLocations.requests.length, /Location/],
      ['no Location', noLocation.url, () => noLocation.requests.length, /Location/],
    ];
    for (const [name, url, requests, reason] of cases) {
      const output = path.join(await fx.tempDir(), 's11.bin');
      const before = requests();
      const { result } = await runRel(fx, { sources: [{ url: good.url }, { url }], outputPath: output, pieceSize: PIECE });
      assert.equal(result.ok, true, `${name}: ${JSON.stringify(result.error)}`);
      await assertFileEquals(output, body, name);
      assert.equal(result.sources[1].state, 'excluded', `${name}: ${result.sources[1].state} (${result.sources[1].reason})`);
      assert.match(result.sources[1].reason, reason, `${name}: the reason does not say what went wrong: ${result.sources[1].reason}`);
      assert.ok(requests() - before <= 11, `${name}: ${requests() - before} requests (hop limit ≤ 10)`);
    }
  });

  it('S12 a mirror whose Content-Range total disagrees with the size gets no more work after that response', async () => {
    const size = 3 * MiB;
    const body = makeArtifact(size, 's12');
    const good = await fx.mirror({ body, bytesPerSecond: 3e6 });
    let firstWrong = 0;
    const bad = await fx.mirror({ body, bytesPerSecond: 6e6, onRequest: afterProbe({ wrongContentRange: 'wrong-total' }, PIECE, (entry) => { firstWrong = entry.startedAt; }) });
    const output = path.join(await fx.tempDir(), 's12.bin');
    const { result } = await runRel(fx, { sources: [{ url: good.url }, { url: bad.url }], outputPath: output, pieceSize: PIECE, expected: { size, sha256: sha256Hex(body) } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.ok(firstWrong > 0, 'the mirror was never given work');
    const later = workRequests(bad, PIECE).filter((r) => r.startedAt > firstWrong + 50 && !isProbe(r));
    assert.ok(later.length <= 3, `${later.length} more work requests after a wrong total (its other connections at most)`);
    assert.equal(result.sources[1].bytes, 0);
    assert.match(result.sources[1].reason, /size/);
  });
});
