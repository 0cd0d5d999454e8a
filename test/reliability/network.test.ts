/**
 * RELIABILITY.md §B, network faults: refused connections, connect timeouts, stalls, trickles,
 * resets and cancellation. Related: test/engine/slowLink.test.ts (stall and trickle on a second
 * mirror), test/engine/constraints.test.ts (resets), test/engine/target.test.ts (cancel, pause).
 */
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import type { DownloadJob } from '../../src/engine/downloadJob';
import { HttpTransport } from '../../src/engine/httpTransport';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { startSynDropServer } from '../harness/synDropServer';
import {
  KiB,
  MiB,
  afterProbe,
  assertFileEquals,
  firstGap,
  isLeadProbe,
  isProbe,
  rangeOf,
  record,
  runRel,
  sleep,
  useRelFixtures,
  waitFor,
} from './fixtures';

const PIECE = 64 * KiB;

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('reliability §B: network faults', function () {
  this.timeout(45_000);
  const fx = useRelFixtures();

  it('N01 connection refused on one mirror fails over at once; with every mirror down, one error naming each cause, quickly', async () => {
    // (A DNS failure is not reproduced: the resolver here is not on loopback.)
    const body = makeArtifact(2 * MiB, 'n01');
    const good = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const dead = `http://127.0.0.1:${await closedPort()}/artifact.bin`;
    const output = path.join(await fx.tempDir(), 'n01.bin');
    const up = await runRel(fx, { sources: [{ url: dead }, { url: good.url }], outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) } });
    record({ figure: 'availability', healthySources: 1, ok: up.result.ok, ms: up.ms });
    assert.equal(up.result.ok, true, JSON.stringify(up.result.error));
    await assertFileEquals(output, body);
    assert.ok(up.ms < 4000, `took ${up.ms} ms with a refused primary (the good mirror alone needs ~0.6 s)`);
    assert.match(up.result.sources[0].reason, /ECONNREFUSED/);

    const deadToo = `http://127.0.0.1:${await closedPort()}/artifact.bin`;
    const out2 = path.join(await fx.tempDir(), 'n01-none.bin');
    const down = await runRel(fx, { sources: [{ url: dead }, { url: deadToo }], outputPath: out2, pieceSize: PIECE });
    record({ figure: 'availability', healthySources: 0, ok: down.result.ok, code: down.result.error?.code, ms: down.ms, boundMs: 10_000 });
    assert.equal(down.result.error?.code, 'E_NO_USABLE_SOURCE');
    for (const url of [dead, deadToo]) assert.ok(down.result.error!.message.includes(url), `the error does not name ${url}`);
    assert.match(down.result.error!.message, /ECONNREFUSED/);
    // The bound: the probe's retry budget (6 attempts, backoff 0.25 s doubling, at most ~7.8 s) plus ε.
    assert.ok(down.ms < 10_000, `took ${down.ms} ms to give up on two refused mirrors`);
  });

  it('N02 a mirror whose TCP connect never completes is abandoned within the connect timeout; the job fails over', async () => {
    const body = makeArtifact(2 * MiB, 'n02');
    const good = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const silent = await startSynDropServer();
    fx.defer(() => silent.close());
    const output = path.join(await fx.tempDir(), 'n02.bin');
    // The unreachable mirror is the primary: the worst case, since the primary fixes the layout.
    const run = await runRel(fx, { sources: [{ url: silent.url() }, { url: good.url }], outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) }, deadlineMs: 40_000 });
    const connectTimeoutMs = 10_000;
    const bound = connectTimeoutMs + 2000 + 1000; // one timeout, ε, and the good mirror's ~0.6 s
    record({ figure: 'availability', healthySources: 1, ok: run.result.ok, ms: run.ms, boundMs: bound });
    assert.equal(run.result.ok, true, JSON.stringify(run.result.error));
    await assertFileEquals(output, body);
    const firstGood = good.requests[0]?.startedAt - (Date.now() - run.ms);
    assert.ok(run.ms <= bound, `took ${run.ms} ms (first request to the healthy mirror after ${firstGood} ms); bound ${bound} ms`);
  });

  it('N04 a single mirror that stalls mid-body: the stalled range is asked again from the byte it stopped at; no byte missing', async () => {
    const size = 2 * MiB;
    const body = makeArtifact(size, 'n04');
    const mirror = await fx.mirror({ body, bytesPerSecond: 6e6, onRequest: afterProbe({ stallAfterBytes: { afterBytes: 150_000, times: 1 } }, PIECE) });
    const output = path.join(await fx.tempDir(), 'n04.bin');
    const { result, ms } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const stalled = mirror.requests.find((r) => r.outcome === 'stalled');
    assert.ok(stalled, 'the mirror never stalled');
    const stop = rangeOf(stalled)!.start + stalled.bytesSent;
    const again = mirror.requests.filter((r) => r.startedAt > stalled.startedAt).map((r) => rangeOf(r)!);
    const resumed = again.find((r) => r.start <= stop && r.end >= stop);
    assert.ok(resumed, `byte ${stop} was never asked again`);
    assert.ok(resumed.start === stop || resumed.start === Math.floor(stop / PIECE) * PIECE, `resumed at ${resumed.start}, stalled at ${stop}`);
    // The primary's lead probe carried real work (its first segment); a sample probe did not.
    const served = mirror.requests.filter((r) => !isProbe(r) || isLeadProbe(r)).map((r) => ({ start: rangeOf(r)!.start, end: rangeOf(r)!.start + r.bytesSent - 1 }));
    assert.equal(firstGap([{ start: 0, end: 0 }, ...served], size), -1);
    assert.ok(ms < 12_000, `took ${ms} ms (stall detection is 5 s)`);
  });

  for (const primary of ['healthy', 'trickling'] as const) {
    it(`N05 a trickle mirror (1 KiB/s through the fault proxy, ${primary === 'trickling' ? 'as the primary' : 'as a secondary'}): wall time about that of the healthy mirror alone`, async () => {
      const size = 6 * MiB;
      const body = makeArtifact(size, `n05-${primary}`);
      const healthy = await fx.mirror({ body, bytesPerSecond: 4e6 });
      const backend = await fx.mirror({ body });
      const trickle = await fx.proxy({ host: '127.0.0.1', port: backend.port }, { kind: 'trickle', bytesPerSecond: 1024 });
      const sources = primary === 'trickling' ? [{ url: trickle.url('/artifact.bin') }, { url: healthy.url }] : [{ url: healthy.url }, { url: trickle.url('/artifact.bin') }];
      const output = path.join(await fx.tempDir(), 'n05.bin');
      const run = await runRel(fx, { sources, outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) }, deadlineMs: 40_000 }, { canaryOrigin: false });
      const alone = (size / 4e6) * 1000;
      const bound = alone + 3000 + 1500; // ± one grace window (3 s), and ε
      record({ figure: 'availability', healthySources: 1, ok: run.result.ok, ms: run.ms, boundMs: bound });
      assert.equal(run.result.ok, true, JSON.stringify(run.result.error));
      await assertFileEquals(output, body);
      assert.ok(run.ms <= bound, `took ${run.ms} ms; the healthy mirror alone needs ~${Math.round(alone)} ms`);
    });
  }

  it('N06 an RST after 3 bytes: the next request starts at the byte (or piece) where it stopped; the hash is right', async () => {
    const size = 1 * MiB;
    const body = makeArtifact(size, 'n06');
    // The first work response: headers and 3 body bytes, then an RST 50 ms later (undici's test style).
    let fired = false;
    const mirror = await fx.mirror({
      body,
      bytesPerSecond: 8e6,
      onRequest: (req, res, { entry }) => {
        if (fired || isProbe(entry)) return false;
        fired = true;
        const [, a, b] = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '') ?? [];
        const start = Number(a);
        const end = Number(b);
        entry.status = 206;
        entry.outcome = 'reset';
        entry.bytesSent = 3;
        res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': String(end - start + 1) });
        res.write(body.subarray(start, start + 3));
        setTimeout(() => res.socket?.resetAndDestroy(), 50);
        return true;
      },
    });
    const output = path.join(await fx.tempDir(), 'n06.bin');
    const { result, ms } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, expected: { sha256: sha256Hex(body) } });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    const reset = mirror.requests.find((r) => r.outcome === 'reset');
    assert.ok(reset, 'nothing was reset');
    const stop = rangeOf(reset)!.start + 3;
    const next = mirror.requests.filter((r) => r.startedAt > reset.startedAt).map((r) => rangeOf(r)!).find((r) => r.start <= stop && r.end >= stop);
    assert.ok(next, `byte ${stop} was never asked again`);
    assert.ok(next.start === stop || next.start === Math.floor(stop / PIECE) * PIECE, `resumed at ${next.start}, reset at ${stop}`);
    assert.ok(ms < 5000, `took ${ms} ms for a 1 MiB file with one reset`);
  });

  /** Cancels when `when` holds; returns the cancel time. */
  function cancelWhen(job: DownloadJob, when: () => boolean | Promise<boolean>, at: { t: number }): void {
    void waitFor(when, 15_000, 'the cancel point', 5).then(() => {
      at.t = Date.now();
      job.cancel();
    });
  }

  it('N07 cancel during the body, during a retry backoff and before connecting: prompt, 0 open sockets 100 ms later, no request afterwards', async () => {
    const body = makeArtifact(4 * MiB, 'n07');
    // Every request the engine starts, by the engine's clock (a mirror in this same event loop may
    // log a request sent just before the cancel a little after it).
    const sent: number[] = [];
    const original = HttpTransport.prototype.getRange;
    HttpTransport.prototype.getRange = function (this: HttpTransport, ...args: Parameters<HttpTransport['getRange']>) {
      sent.push(Date.now());
      return original.apply(this, args);
    };
    fx.defer(() => { HttpTransport.prototype.getRange = original; });
    const sentAfter = (t: number): number => sent.filter((s) => s > t).length;
    // During the body.
    const slow = await fx.mirror({ body, bytesPerSecond: 300_000 });
    const at = { t: 0 };
    const out1 = path.join(await fx.tempDir(), 'n07a.bin');
    const during = await runRel(fx, { sources: [{ url: slow.url }], outputPath: out1, pieceSize: PIECE }, { onStart: (job) => cancelWhen(job, () => slow.bytesServed > 200_000, at) });
    const endedAfter = Date.now() - at.t;
    assert.equal(during.result.error?.code, 'E_INTERRUPTED');
    assert.ok(endedAfter < 1000, `run() ended ${endedAfter} ms after cancel`);
    await sleep(100);
    assert.equal(slow.openSockets, 0, 'sockets still open 100 ms after cancel');
    assert.equal(sentAfter(at.t), 0, 'requests started after cancel');

    // During a retry backoff (Retry-After: 10 on work).
    const busy = await fx.mirror({ body, onRequest: afterProbe({ statusScript: [{ status: 503, headers: { 'Retry-After': '10' }, times: 100 }] }, PIECE) });
    const at2 = { t: 0 };
    const out2 = path.join(await fx.tempDir(), 'n07b.bin');
    let job2: DownloadJob | undefined;
    const backoff = await runRel(fx, { sources: [{ url: busy.url }], outputPath: out2, pieceSize: PIECE }, {
      onStart: (job) => {
        job2 = job;
        cancelWhen(job, () => job2!.snapshot().sources[0].state === 'waiting', at2);
      },
    });
    assert.equal(backoff.result.error?.code, 'E_INTERRUPTED');
    assert.ok(Date.now() - at2.t < 1500, `run() ended ${Date.now() - at2.t} ms after a cancel during the backoff`);
    await sleep(100);
    assert.equal(busy.openSockets, 0, 'sockets still open 100 ms after cancel');
    const count = busy.requests.length;
    await sleep(400);
    assert.equal(busy.requests.length, count, 'a late retry reached the mirror after cancel');
    assert.equal(sentAfter(at2.t), 0, 'requests started after a cancel during the backoff');

    // Before connecting: cancelled right away, and cancelled while the connect hangs.
    const idle = await fx.mirror({ body });
    const out3 = path.join(await fx.tempDir(), 'n07c.bin');
    const early = await runRel(fx, { sources: [{ url: idle.url }], outputPath: out3, pieceSize: PIECE }, { onStart: (job) => job.cancel() });
    assert.equal(early.result.error?.code, 'E_INTERRUPTED');
    await sleep(100);
    assert.equal(idle.requests.length, 0, 'a job cancelled before it started still sent requests');
    const silent = await startSynDropServer();
    fx.defer(() => silent.close());
    const out4 = path.join(await fx.tempDir(), 'n07d.bin');
    const at4 = { t: 0 };
    const started = Date.now();
    const connecting = await runRel(fx, { sources: [{ url: silent.url() }], outputPath: out4, pieceSize: PIECE }, { onStart: (job) => cancelWhen(job, () => Date.now() - started > 300, at4) });
    assert.equal(connecting.result.error?.code, 'E_INTERRUPTED');
    assert.equal(sentAfter(at4.t), 0, 'requests started after a cancel during connect');
    assert.ok(Date.now() - at4.t < 1000, `run() ended ${Date.now() - at4.t} ms after a cancel during connect`);
  });
});
