/**
 * RELIABILITY.md §C, data integrity: corrupt and lying mirrors, fail-closed verification, a file
 * that changes on the origin, Merkle attacks. Related: test/integrity/corruptMirror.test.ts
 * (bans with a manifest, SHA-256-only repair), test/integrity/merkleTree.test.ts (the verifier
 * against every crafted proof), test/integrity/manifest.test.ts.
 */
import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import { leafHash, merkleRoot } from '../../src/engine/integrity/merkleTree';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import type { MirrorRequest } from '../harness/mirrorServer';
import { runCli } from '../engine/fixtures';
import {
  KiB,
  MiB,
  PROBE_BYTES,
  assertFileEquals,
  buildCli,
  checkPublished,
  exists,
  isLeadProbe,
  isProbe,
  isSpotCheck,
  logEngineRequests,
  readJournalDone,
  record,
  runRel,
  statePaths,
  useRelFixtures,
  waitFor,
} from './fixtures';

const PIECE = 64 * KiB;

function manifestOf(data: Buffer, pieceSize = PIECE): { size: number; pieceSize: number; root: string; leaves: string[]; sha256: string } {
  const leaves: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += pieceSize) leaves.push(leafHash(data.subarray(offset, offset + pieceSize)));
  return { size: data.length, pieceSize, root: merkleRoot(leaves).toString('hex'), leaves: leaves.map((l) => l.toString('hex')), sha256: sha256Hex(data) };
}

/** Parses `bytes=a-b` (inclusive), clamped to `size`. */
function rangeHeader(req: http.IncomingMessage, size: number): { start: number; end: number } {
  const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = Number(match?.[1] ?? 0);
  const end = Math.min(match?.[2] ? Number(match[2]) : size - 1, size - 1);
  return { start, end };
}

/** Answers a ranged GET with `bytes` (already the requested slice), as a 206 would. */
function answer206(res: http.ServerResponse, entry: MirrorRequest, start: number, end: number, size: number, bytes: Buffer, headers: Record<string, string> = {}): true {
  entry.status = 206;
  entry.bytesSent = bytes.length;
  res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': String(bytes.length), 'Accept-Ranges': 'bytes', ...headers });
  res.end(bytes);
  return true;
}

describe('reliability §C: data integrity', function () {
  this.timeout(40_000);
  const fx = useRelFixtures();

  before(async function () {
    this.timeout(60_000);
    await buildCli();
  });

  /**
   * A mirror that answers the identity checks (probe, spot check) honestly and `work(start, end)`
   * for everything else: a liar that passes admission.
   */
  async function liar(body: Buffer, work: (start: number, end: number) => Buffer, extra: { bytesPerSecond?: number } = {}) {
    const size = body.length;
    return fx.mirror({
      body,
      ...extra,
      onRequest: (req, res, { entry }) => {
        const { start, end } = rangeHeader(req, size);
        // The primary's probe goes on as its first segment: honest sample, then the lie.
        if (isLeadProbe(entry)) return answer206(res, entry, start, end, size, Buffer.concat([body.subarray(0, PROBE_BYTES), work(PROBE_BYTES, end)]));
        if (isProbe(entry) || isSpotCheck(entry, PIECE)) return false;
        return answer206(res, entry, start, end, size, work(start, end));
      },
    });
  }

  it('D01 a mirror that flips one byte per piece: each bad piece is discarded, the mirror banned within K=3 failures, the root is right', async () => {
    const size = 4 * MiB;
    const body = makeArtifact(size, 'd01');
    const manifest = manifestOf(body);
    const flipped = Buffer.from(body);
    for (let offset = PIECE / 2 + 7; offset < size; offset += PIECE) flipped[offset] ^= 0x01;
    // The flipper is the primary, so it has work from the start; it passes the identity checks.
    const bad = await liar(body, (start, end) => flipped.subarray(start, end + 1));
    const good = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const output = path.join(await fx.tempDir(), 'd01.bin');
    const sent = logEngineRequests(fx);
    const { result, events } = await runRel(fx, { sources: [{ url: bad.url }, { url: good.url }], outputPath: output, expected: manifest }, { trustedSha256: manifest.sha256 });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    assert.equal(result.root, manifest.root);
    assert.equal(result.verifiedBy, 'merkle');
    await assertFileEquals(output, body);
    assert.ok(bad.requests.length > 1, 'the flipper got no work: the test proves nothing');
    assert.equal(result.sources[0].state, 'banned', result.sources[0].reason);
    assert.ok(result.sources[0].strikes <= 3, `banned after ${result.sources[0].strikes} bad pieces`);
    // Kept from it: at most its honest probe sample (read on as its first segment, proven by the manifest).
    assert.ok(result.sources[0].bytes <= PROBE_BYTES, `${result.sources[0].bytes} bytes from the corrupting mirror were kept`);
    const ban = events.find((e) => e.kind === 'banned' && e.sourceId === 0)!;
    assert.ok(ban);
    assert.deepEqual(sent.filter((r) => r.url === bad.url && r.at > ban.at).map((r) => `${r.start} +${r.at - ban.at} ms`), [], 'requests to the mirror after its ban');
  });

  it('D02 a mirror serving another version (passing the identity checks) is excluded for the whole job after at most one piece, with a manifest', async () => {
    const size = 4 * MiB;
    const body = makeArtifact(size, 'd02');
    const other = makeArtifact(size, 'd02-v2');
    const manifest = manifestOf(body);
    const bad = await liar(body, (start, end) => other.subarray(start, end + 1));
    const good = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const output = path.join(await fx.tempDir(), 'd02.bin');
    const { result } = await runRel(fx, { sources: [{ url: bad.url }, { url: good.url }], outputPath: output, expected: manifest }, { trustedSha256: manifest.sha256 });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    await assertFileEquals(output, body);
    assert.ok(bad.requests.length > 1, 'the liar got no work: the test proves nothing');
    assert.ok(['banned', 'excluded'].includes(result.sources[0].state), result.sources[0].state);
    assert.ok(result.sources[0].strikes <= 1, `${result.sources[0].strikes} bad pieces before the exclusion`);
    // Kept from it: at most its honest probe sample (read on as its first segment, proven by the manifest).
    assert.ok(result.sources[0].bytes <= PROBE_BYTES, `${result.sources[0].bytes} bytes kept`);
  });

  it('D02 with only a Merkle root (no leaves), a lying mirror is still caught and the healthy mirror completes the job', async () => {
    const size = 4 * MiB;
    const body = makeArtifact(size, 'd02-root');
    const other = makeArtifact(size, 'd02-root-v2');
    const { root, sha256 } = manifestOf(body);
    const bad = await liar(body, (start, end) => other.subarray(start, end + 1));
    const good = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const output = path.join(await fx.tempDir(), 'd02-root.bin');
    const { result } = await runRel(fx, { sources: [{ url: bad.url }, { url: good.url }], outputPath: output, expected: { root, pieceSize: PIECE } }, { trustedSha256: sha256 });
    record({ figure: 'availability', healthySources: 1, ok: result.ok });
    assert.ok(bad.requests.length > 2, 'the liar got no work: the test proves nothing');
    assert.equal(result.ok, true, `one healthy mirror holds every byte, yet: ${JSON.stringify(result.error)}`);
    assert.equal(result.root, root);
    await assertFileEquals(output, body);
    assert.ok(['banned', 'excluded'].includes(result.sources[0].state), result.sources[0].state);
  });

  it('D03 verification fails closed on a wrong trusted root: nothing at the final path, "verification failed", nothing kept for resume', async () => {
    const size = 1 * MiB;
    const body = makeArtifact(size, 'd03');
    const mirror = await fx.mirror({ body });
    const wrongRoot = manifestOf(makeArtifact(size, 'd03-other')).root;
    const output = path.join(await fx.tempDir(), 'd03-root.bin');
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, expected: { root: wrongRoot, pieceSize: PIECE } });
    assert.equal(result.error?.code, 'E_VERIFICATION_FAILED');
    assert.match(result.error!.message, /verification failed/i);
    assert.equal(await exists(output), false);
    assert.equal(await readJournalDone(statePaths(output).journal), undefined, 'pieces of a failed file kept for resume');
  });

  /** A host for manifests: /good.json (valid for `body`), /malformed.json, anything else 404. */
  async function manifestHost(body: Buffer) {
    const m = manifestOf(body);
    const valid = { format: 'artifact-fetch/manifest@1', name: 'x.bin', size: body.length, pieceSize: PIECE, hash: 'sha256', tree: 'rfc6962', root: m.root, sha256: m.sha256, leaves: m.leaves };
    return fx.mirror({
      body,
      onRequest: (req, res) => {
        const json = req.url === '/good.json' ? valid : req.url === '/malformed.json' ? { ...valid, root: 'not-a-root' } : undefined;
        if (json) {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(json));
        } else {
          res.writeHead(404, { 'Content-Length': '0' });
          res.end();
        }
        return true;
      },
    });
  }

  /** `get --manifest <url>` must exit 4 with "verification failed", publish nothing and fetch no artifact byte. */
  async function refusesManifest(manifestUrl: string, name: string): Promise<void> {
    const body = makeArtifact(1 * MiB, 'd03-cli');
    const mirror = await fx.mirror({ body });
    const output = path.join(await fx.tempDir(), 'd03.bin');
    const run = await runCli(['get', mirror.url, '-o', output, '--manifest', manifestUrl, '-q']);
    await checkPublished(output, sha256Hex(body), run.code === 0);
    assert.equal(await exists(output), false, `${name}: a file was published`);
    assert.equal(mirror.requests.length, 0, `${name}: the artifact was downloaded without a trusted manifest`);
    assert.doesNotMatch(run.stderr, /\n\s+at /, `${name}: a stack trace on stderr`);
    assert.equal(run.code, 4, `${name}: exit ${run.code}: ${run.stderr}`);
    assert.match(run.stderr, /verification failed|not trusted/i, `${name}: ${run.stderr}`);
  }

  it('D03 a manifest URL answering 404 fails closed (exit 4, "verification failed"), nothing downloaded', async () => {
    const host = await manifestHost(makeArtifact(1 * MiB, 'd03-cli'));
    await refusesManifest(host.urlFor('/missing.json'), '404');
  });

  it('D03 a fetched manifest with a malformed root fails closed as a verification failure (exit 4), nothing downloaded', async () => {
    const host = await manifestHost(makeArtifact(1 * MiB, 'd03-cli'));
    await refusesManifest(host.urlFor('/malformed.json'), 'malformed root');
  });

  it('D03 an unreachable manifest, and a manifest from another origin over cleartext, fail closed (exit 4), nothing downloaded', async () => {
    const host = await manifestHost(makeArtifact(1 * MiB, 'd03-cli'));
    await refusesManifest('http://127.0.0.1:9/manifest.json', 'unreachable');
    await refusesManifest(host.urlFor('/good.json'), 'another origin over http (not the primary, no --root)');
  });

  it('D03 a manifest fetched from a URL whose root is given with --root is used: the file lands verified by its Merkle tree', async () => {
    const body = makeArtifact(1 * MiB, 'd03-cli');
    const host = await manifestHost(body);
    const mirror = await fx.mirror({ body });
    const output = path.join(await fx.tempDir(), 'd03-good.bin');
    const run = await runCli(['get', mirror.url, '-o', output, '--manifest', host.urlFor('/good.json'), '--root', manifestOf(body).root, '--json']);
    assert.equal(run.code, 0, run.stderr);
    await checkPublished(output, sha256Hex(body), true);
    assert.equal(JSON.parse(run.stdout).verifiedBy, 'merkle');
    assert.equal(host.requests.length, 1, 'the manifest was fetched once');
  });

  /** A mirror whose content (and strong ETag) can be swapped; honours If-Match and If-Range like a real server. */
  async function changingMirror(versions: Buffer[]) {
    const state = { version: 0, workRequests: 0, switchAfterWork: Infinity };
    const etag = () => `"v${state.version}"`;
    const mirror = await fx.mirror({
      body: versions[0],
      onRequest: (req, res, { entry }) => {
        if (!isProbe(entry) && !isSpotCheck(entry, PIECE) && ++state.workRequests > state.switchAfterWork) state.version = versions.length - 1;
        const current = versions[state.version];
        const size = current.length;
        const ifMatch = req.headers['if-match'];
        if (ifMatch && ifMatch !== etag()) {
          entry.status = 412;
          res.writeHead(412, { 'Content-Length': '0' });
          res.end();
          return true;
        }
        const ifRange = req.headers['if-range'];
        if (ifRange && ifRange !== etag()) {
          entry.status = 200;
          res.writeHead(200, { 'Content-Length': String(size), ETag: etag() });
          res.end(current);
          return true;
        }
        const { start, end } = rangeHeader(req, size);
        return answer206(res, entry, start, end, size, current.subarray(start, end + 1), { ETag: etag() });
      },
    });
    return { mirror, state };
  }

  it('D04 the file changed on the origin between sessions (new strong ETag): the partial is not spliced with the new bytes', async () => {
    const size = 4 * MiB;
    const v1 = makeArtifact(size, 'd04-v1');
    const v2 = makeArtifact(size, 'd04-v2');
    const { mirror, state } = await changingMirror([v1, v2]);
    const output = path.join(await fx.tempDir(), 'd04.bin');
    const { journal } = statePaths(output);
    // Session 1 on v1, interrupted with pieces journaled (paced by the journal, not by bandwidth).
    const first = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, limitBytesPerSecond: 1e6 }, {
      onStart: (job) => void waitFor(async () => ((await readJournalDone(journal))?.done.length ?? 0) >= 6, 15_000, 'a journal').then(() => job.cancel()),
    });
    assert.equal(first.result.error?.code, 'E_INTERRUPTED');
    state.version = 1;
    // Session 2: no trusted hash; only the validator can tell the versions apart.
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    const got = await fsp.readFile(output);
    assert.ok(got.equals(v2), got.equals(v1) ? 'the old version was published' : 'the published file mixes the old and the new version');
  });

  it('D04 the file changed on the origin mid-download (new ETag, same size): no file mixing old and new bytes is published', async () => {
    const size = 3 * MiB;
    const v1 = makeArtifact(size, 'd04m-v1');
    const v2 = makeArtifact(size, 'd04m-v2');
    const { mirror, state } = await changingMirror([v1, v2]);
    state.switchAfterWork = 3;
    const output = path.join(await fx.tempDir(), 'd04m.bin');
    const { result } = await runRel(fx, { sources: [{ url: mirror.url }], outputPath: output, pieceSize: PIECE, limitBytesPerSecond: 4e6 });
    assert.ok(state.version === 1, 'the content never changed: the test proves nothing');
    if (await exists(output)) {
      const got = await fsp.readFile(output);
      assert.ok(got.equals(v1) || got.equals(v2), 'the published file mixes the old and the new version');
    } else {
      assert.equal(result.ok, false);
    }
  });

  it('D07 Merkle attacks by a mirror (swapped pieces, a piece replayed at other indexes, a 64-byte "left‖right" last piece, a duplicated last piece) are all rejected', async () => {
    const size = 16 * PIECE + 64; // the last piece is 64 bytes, the size of an inner node's preimage
    const body = makeArtifact(size, 'd07');
    const manifest = manifestOf(body);
    const pieces = Array.from({ length: manifest.leaves.length }, (_, i) => body.subarray(i * PIECE, Math.min(size, (i + 1) * PIECE)));
    const leaves = manifest.leaves.map((l) => Buffer.from(l, 'hex'));
    /** The file as the attacker serves it, piece by piece (the rest honest). */
    const attacks: Record<string, (index: number) => Buffer> = {
      'swapped siblings': (i) => (i < 16 ? pieces[i ^ 1] : pieces[i]),
      'piece 0 replayed at every other index': (i) => (i < 16 ? pieces[0] : pieces[i]),
      'left‖right of two leaves as the 64-byte last piece': (i) => (i === 16 ? Buffer.concat([leaves[14], leaves[15]]) : pieces[i]),
    };
    for (const [name, forge] of Object.entries(attacks)) {
      const forged = Buffer.concat(pieces.map((_, i) => forge(i)));
      assert.equal(forged.length, size);
      // The attacker is the primary (it has work from the start) and passes the identity checks.
      const attacker = await liar(body, (start, end) => forged.subarray(start, end + 1));
      // The honest mirror joins late (its probe takes 400 ms), so the attacker serves every piece first.
      const good = await fx.mirror({ body, bytesPerSecond: 8e6, onRequest: async (_req, _res, { entry }) => {
        if (isProbe(entry)) await new Promise((resolve) => setTimeout(resolve, 400));
        return false;
      } });
      const output = path.join(await fx.tempDir(), 'd07.bin');
      const { result } = await runRel(fx, { sources: [{ url: attacker.url }, { url: good.url }], outputPath: output, expected: manifest }, { trustedSha256: manifest.sha256 });
      assert.equal(result.ok, true, `${name}: ${JSON.stringify(result.error)}`);
      assert.equal(result.root, manifest.root, name);
      await assertFileEquals(output, body, name);
      assert.ok(attacker.requests.length > 1, `${name}: the attacker got no work`);
      assert.equal(result.sources[0].state, 'banned', `${name}: ${result.sources[0].state} ${result.sources[0].reason}`);
    }
    // A duplicated last piece (the CVE-2012-2459 shape) makes the file longer than the manifest.
    const good = await fx.mirror({ body, bytesPerSecond: 4e6 });
    const longer = await fx.mirror({ body: Buffer.concat([body, pieces[pieces.length - 1]]) });
    const output = path.join(await fx.tempDir(), 'd07-dup.bin');
    const { result } = await runRel(fx, { sources: [{ url: good.url }, { url: longer.url }], outputPath: output, expected: manifest }, { trustedSha256: manifest.sha256 });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    assert.equal(result.root, manifest.root);
    assert.equal(result.sources[1].state, 'excluded');
    assert.equal(longer.requests.length, 1, 'the longer copy got work after its probe');
  });
});
