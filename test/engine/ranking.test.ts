import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { jobPartsFromMetalink } from '../../src/engine/metalink/metalinkJob';
import { parseMetalink } from '../../src/engine/metalink/metalinkParser';
import { capExpensiveWeights } from '../../src/engine/ranking/expensiveShare';
import { clearExternalRankingCache, fetchExternalScores, parseScores } from '../../src/engine/ranking/externalRanking';
import { RANKING_INPUTS, scoreBreakdown, type RankingContext } from '../../src/engine/sourceRanking';
import { SourceRuntime } from '../../src/engine/sourceRuntime';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { MiB, assertFileEquals, runJob, useFixtures } from './fixtures';

const PIECE = 256 * 1024;

function pieceHashes(data: Buffer): string[] {
  const hashes: string[] = [];
  for (let offset = 0; offset < data.length; offset += PIECE) hashes.push(createHash('sha256').update(data.subarray(offset, offset + PIECE)).digest('hex'));
  return hashes;
}

const context: RankingContext = { bestRate: 0, bestLatencyMs: 10, maxPriority: 0, maxCost: 2, now: Date.now() };

describe('engine: ranking inputs', function () {
  this.timeout(30_000);
  const fx = useFixtures();
  const SIZE = 8 * MiB;
  const body = makeArtifact(SIZE, 'ranking');
  const sha256 = sha256Hex(body);
  afterEach(() => clearExternalRankingCache());

  describe('the score and its breakdown', () => {
    it('adds up its inputs; a cheaper source scores higher when all else is equal', () => {
      const free = new SourceRuntime(0, { url: 'http://a.test/x', cost: 0 });
      const paid = new SourceRuntime(1, { url: 'http://b.test/x', cost: 2 });
      for (const source of [free, paid]) source.latencyMs = 10;
      const a = scoreBreakdown(free, context);
      const b = scoreBreakdown(paid, context);
      for (const { score, inputs } of [a, b]) {
        const sum = RANKING_INPUTS.reduce((total, name) => total + inputs[name].contribution, 0);
        assert.ok(Math.abs(sum - score) < 1e-9);
      }
      assert.equal(a.inputs.cost.value, 1);
      assert.equal(b.inputs.cost.value, 0);
      assert.ok(a.score > b.score);
    });

    it('counts location only when the user has one, and the external service only once it answered', () => {
      const here = new SourceRuntime(0, { url: 'http://a.test/x', location: 'DE' });
      const there = new SourceRuntime(1, { url: 'http://b.test/x', location: 'us' });
      assert.equal(scoreBreakdown(here, context).inputs.location.value, undefined);
      assert.equal(scoreBreakdown(here, context).inputs.external.value, undefined);
      const withLocation = { ...context, location: 'de', external: new Map([[1, 0.9]]) };
      assert.equal(scoreBreakdown(here, withLocation).inputs.location.value, 1);
      assert.equal(scoreBreakdown(there, withLocation).inputs.location.value, 0);
      assert.equal(scoreBreakdown(here, withLocation).inputs.external.value, 0);
      assert.equal(scoreBreakdown(there, withLocation).inputs.external.value, 0.9);
      assert.ok(scoreBreakdown(there, withLocation).inputs.external.contribution > 0);
    });

    it('scales expensive pattern weights down to the cap, and leaves them when no free source is there', () => {
      const weights = new Map([[0, 10], [1, 30], [2, 60]]);
      const capped = capExpensiveWeights(weights, (id) => id !== 0, 0.2);
      const expensive = capped.get(1)! + capped.get(2)!;
      assert.ok(Math.abs(expensive / (expensive + capped.get(0)!) - 0.2) < 1e-9);
      assert.ok(Math.abs(capped.get(2)! / capped.get(1)! - 2) < 1e-9, 'the expensive sources keep their proportions');
      assert.equal(capExpensiveWeights(weights, (id) => id !== 0, 0).get(1), 0);
      assert.equal(capExpensiveWeights(new Map([[1, 30]]), () => true, 0.2).get(1), 30);
    });
  });

  describe('the expensive-share cap', () => {
    it('without a cap a fast expensive mirror carries most of the bytes (the control)', async () => {
      const cheap = await fx.mirror({ body, bytesPerSecond: 4e6 });
      const paid = await fx.mirror({ body, bytesPerSecond: 40e6, host: '127.0.0.2' });
      const dir = await fx.tempDir();
      const { result } = await runJob(fx, { sources: [{ url: cheap.url }, { url: paid.url, cost: 1 }], outputPath: path.join(dir, 'control.bin'), expected: { sha256 } });
      assert.equal(result.ok, true, JSON.stringify(result.error));
      assert.ok(result.sources[1].bytes > SIZE / 2, `expensive bytes ${result.sources[1].bytes}`);
    });

    it('caps the bytes of a fast expensive mirror at the share while a cheap one keeps up', async () => {
      const cheap = await fx.mirror({ body, bytesPerSecond: 12e6 });
      const paid = await fx.mirror({ body, bytesPerSecond: 40e6, host: '127.0.0.2' });
      const dir = await fx.tempDir();
      const output = path.join(dir, 'capped.bin');
      // Per-piece hashes: no audit re-fetches (which may use any source) blur the mirror's count.
      const { result, events, job } = await runJob(fx, {
        sources: [{ url: cheap.url }, { url: paid.url, cost: 1 }],
        outputPath: output,
        expected: { sha256, pieceSize: PIECE, pieceSha256: pieceHashes(body) },
        maxExpensiveShare: 0.25,
      });
      assert.equal(result.ok, true, JSON.stringify(result.error));
      await assertFileEquals(output, body);
      assert.ok(result.sources[1].bytes <= 0.25 * SIZE, `expensive bytes ${result.sources[1].bytes} > 25% of ${SIZE}`);
      assert.ok(result.sources[1].bytes > 0, 'the expensive mirror still topped up');
      assert.ok(result.sources[0].bytes >= 0.75 * SIZE, `cheap bytes ${result.sources[0].bytes}`);
      // What the mirror sent is bounded too (beyond the cap: the probe and the identity spot check).
      assert.ok(paid.bytesServed <= 0.25 * SIZE + 2 * 64 * 1024, `the expensive mirror served ${paid.bytesServed}`);
      assert.ok(events.some((e) => /reached their cap of 25%/.test(e.message)), 'the cap is logged when it binds');
      assert.equal(job.snapshot().sources[1].expensiveShareCap, 0.25);
      assert.equal(job.snapshot().sources[0].expensiveShareCap, undefined);
    });

    it('lifts the cap when no free source is left: the expensive one finishes the job', async () => {
      const cheap = await fx.mirror({ body, statusScript: [{ status: 404, times: 1000 }] });
      const paid = await fx.mirror({ body, bytesPerSecond: 40e6, host: '127.0.0.2' });
      const dir = await fx.tempDir();
      const { result } = await runJob(fx, {
        sources: [{ url: cheap.url }, { url: paid.url, cost: 1 }],
        outputPath: path.join(dir, 'lifted.bin'),
        expected: { sha256 },
        maxExpensiveShare: 0,
      });
      assert.equal(result.ok, true, JSON.stringify(result.error));
      assert.equal(result.sources[1].bytes, SIZE);
    });

    it('refuses a share outside 0..1', async () => {
      const dir = await fx.tempDir();
      const { result } = await runJob(fx, { sources: [{ url: 'http://127.0.0.1:9/x' }], outputPath: path.join(dir, 'x.bin'), maxExpensiveShare: 1.5 });
      assert.equal(result.error?.code, 'E_BAD_ARGUMENTS');
    });
  });

  describe('location', () => {
    it("prefers the Metalink location that matches the user's: the input shows in every source's breakdown", async () => {
      const de = await fx.mirror({ body, bytesPerSecond: 20e6 });
      const us = await fx.mirror({ body, bytesPerSecond: 20e6, host: '127.0.0.2' });
      const [file] = parseMetalink(`<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="a.bin"><size>${SIZE}</size><hash type="sha-256">${sha256}</hash>
<url priority="1" location="de">${de.url}</url><url priority="2" location="us">${us.url}</url></file></metalink>`);
      const parts = jobPartsFromMetalink(file);
      const dir = await fx.tempDir();
      const { result, job } = await runJob(fx, { sources: parts.sources, expected: parts.expected, outputPath: path.join(dir, 'a.bin'), location: 'us' });
      assert.equal(result.ok, true, JSON.stringify(result.error));
      const [fromDe, fromUs] = job.snapshot().sources;
      assert.equal(fromDe.location, 'de');
      assert.equal(fromDe.scoreInputs?.location.value, 0);
      assert.equal(fromUs.scoreInputs?.location.value, 1);
      assert.ok((fromUs.scoreInputs?.location.contribution ?? 0) > 0);
    });
  });

  describe('an external ranking service', () => {
    async function rankingScript(dir: string, source: string): Promise<string> {
      const file = path.join(dir, 'rank.js');
      await fsp.writeFile(file, source);
      return `"${process.execPath}" "${file}"`;
    }

    it('a command scores sources from the request on its stdin; the scores enter the breakdown and the ranking', async () => {
      const a = await fx.mirror({ body, bytesPerSecond: 4e6 });
      const b = await fx.mirror({ body, bytesPerSecond: 4e6, host: '127.0.0.2' });
      const dir = await fx.tempDir();
      const command = await rankingScript(dir, `
        let input = '';
        process.stdin.on('data', (c) => { input += c; }).on('end', () => {
          const { sources } = JSON.parse(input);
          const scores = {};
          sources.forEach((s, i) => { scores[s.url] = i === 1 ? 1 : 0; });
          process.stdout.write(JSON.stringify({ scores }));
        });`);
      const { result, events, snapshots } = await runJob(fx, {
        sources: [{ url: a.url }, { url: b.url }],
        outputPath: path.join(dir, 'ext.bin'),
        expected: { sha256 },
        maxActiveSources: 1,
        rankingWeights: { external: 3 },
        externalRanking: { command },
      });
      assert.equal(result.ok, true, JSON.stringify(result.error));
      assert.ok(events.some((e) => /external ranking: 2 scores from command/.test(e.message)), events.map((e) => e.message).join('\n'));
      const ranked = snapshots.find((s) => s.sources[1].scoreInputs?.external.value === 1);
      assert.ok(ranked, 'a snapshot shows the external score');
      assert.equal(ranked.sources[0].scoreInputs?.external.value, 0);
      assert.ok(snapshots.some((s) => s.sources[1].rank === 1 && s.sources[1].state === 'active'), 'the preferred source took rank 1');
      assert.ok(result.sources[1].bytes > 0);
    });

    it('a failing or hanging command is ignored with its reason, and the job finishes', async () => {
      // 2 s of download: the shell's answer (or its timeout) comes well before the end.
      const a = await fx.mirror({ body, bytesPerSecond: 4e6 });
      const dir = await fx.tempDir();
      const failing = await runJob(fx, {
        sources: [{ url: a.url }],
        outputPath: path.join(dir, 'fail.bin'),
        externalRanking: { command: 'echo "no scores today" >&2; exit 3' },
      });
      assert.equal(failing.result.ok, true);
      assert.ok(failing.events.some((e) => /external ranking ignored .*exited with 3: no scores today/.test(e.message)), failing.events.map((e) => e.message).join('\n'));
      const marker = path.join(dir, 'survived');
      const hanging = await runJob(fx, {
        sources: [{ url: a.url }],
        outputPath: path.join(dir, 'hang.bin'),
        externalRanking: { command: `sleep 1; touch "${marker}"`, timeoutMs: 300 },
      });
      assert.equal(hanging.result.ok, true);
      assert.ok(hanging.events.some((e) => /external ranking ignored .*no answer within 300 ms/.test(e.message)), hanging.events.map((e) => e.message).join('\n'));
      // The job took 2 s: a surviving `sleep 1` would have created the marker by now.
      await assert.rejects(fsp.stat(marker), 'the timed-out command was killed');
    });

    it('a URL answers a POST; the answer is cached across jobs for its TTL', async () => {
      let requests = 0;
      const bodies: string[] = [];
      const server = http.createServer((req, res) => {
        requests++;
        let text = '';
        req.on('data', (c: Buffer) => { text += c.toString(); }).on('end', () => {
          bodies.push(text);
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ 'http://a.test/x': 0.8, 'http://b.test/x': 7, junk: 'n/a' }));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      fx.defer(() => new Promise((resolve) => server.close(resolve)));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rank`;
      const sources = [{ url: 'http://a.test/x' }, { url: 'http://b.test/x' }];
      const first = await fetchExternalScores({ url }, sources);
      assert.ok(first.ok && !first.cached);
      assert.deepEqual([...first.scores], [['http://a.test/x', 0.8], ['http://b.test/x', 1]]);
      assert.deepEqual(JSON.parse(bodies[0]), { sources });
      const second = await fetchExternalScores({ url }, sources);
      assert.ok(second.ok && second.cached);
      assert.equal(requests, 1, 'the cached answer was reused');
      const expired = await fetchExternalScores({ url, cacheTtlMs: 0 }, [{ url: 'http://c.test/x' }]);
      assert.ok(expired.ok && !expired.cached);
      const again = await fetchExternalScores({ url, cacheTtlMs: 0 }, [{ url: 'http://c.test/x' }]);
      assert.ok(again.ok && !again.cached);
      assert.equal(requests, 3);
    });

    it('rejects answers that are not a JSON object of scores, and non-200 answers', async () => {
      assert.throws(() => parseScores('not json'), /not JSON/);
      assert.throws(() => parseScores('[1,2]'), /not a JSON object/);
      const server = http.createServer((_req, res) => res.writeHead(503).end());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      fx.defer(() => new Promise((resolve) => server.close(resolve)));
      const answer = await fetchExternalScores({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` }, [{ url: 'http://a.test/x' }]);
      assert.equal(answer.ok, false);
      assert.match(answer.ok ? '' : answer.reason, /HTTP 503/);
    });
  });
});
