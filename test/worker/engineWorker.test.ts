import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ErrorCode } from '../../src/engine/errors';
import type { JobOptions } from '../../src/engine/jobOptions';
import type { DownloadResult, JobSnapshot } from '../../src/engine/snapshot';
import type { EngineClient } from '../../src/worker/engineClient';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { startMirror, type Mirror } from '../harness/mirrorServer';
import { clientFor, waitFor, WORKER_MAIN } from './fixtures/workerSpawning';

/**
 * The real worker entry (src/worker/workerMain.ts, run from source through tsx) driven through
 * the same EngineClient the extension uses, against loopback mirrors.
 */
describe('engine worker (real engine, loopback mirrors)', function () {
  this.timeout(60_000);
  let client: EngineClient;
  let workers: import('node:worker_threads').Worker[];
  let folder: string;
  const mirrors: Mirror[] = [];

  beforeEach(() => {
    ({ client, workers } = clientFor(WORKER_MAIN));
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'af-worker-'));
    // The extension's launcher creates the target folder before it starts a job.
    fs.mkdirSync(path.join(folder, 'artifacts'));
  });

  afterEach(async () => {
    await client.dispose();
    await Promise.all(mirrors.splice(0).map((mirror) => mirror.close()));
    fs.rmSync(folder, { recursive: true, force: true });
  });

  async function mirrorsOf(body: Buffer, count: number, bytesPerSecond?: number): Promise<Mirror[]> {
    const started = await Promise.all(Array.from({ length: count }, () => startMirror({ body, path: '/artifact.bin', bytesPerSecond })));
    mirrors.push(...started);
    return started;
  }

  function jobOptions(sources: Mirror[], extra: Partial<JobOptions> = {}): JobOptions {
    return {
      sources: sources.map((mirror) => ({ url: mirror.url })),
      outputPath: path.join(folder, 'artifacts', 'artifact.bin'),
      stateDir: path.join(folder, '.artifact-fetch'),
      ...extra,
    };
  }

  const resultOf = (jobId: string, ms = 45_000) =>
    waitFor<[string, DownloadResult]>((listener) => { client.on('jobResult', listener); return () => client.off('jobResult', listener); }, (id) => id === jobId, ms).then(([, result]) => result);

  const snapshotWhere = (accept: (snapshot: JobSnapshot) => boolean, ms = 20_000) =>
    waitFor<[JobSnapshot]>((listener) => { client.on('snapshot', listener); return () => client.off('snapshot', listener); }, accept, ms).then(([snapshot]) => snapshot);

  it('downloads from two mirrors into the target and proves it with the expected SHA-256', async () => {
    const body = makeArtifact(3 * 1024 * 1024, 'two mirrors');
    const sources = await mirrorsOf(body, 2);
    const snapshots: JobSnapshot[] = [];
    client.on('snapshot', (snapshot) => snapshots.push(snapshot));
    const finished = resultOf('one');
    await client.startJob('one', jobOptions(sources, { expected: { sha256: sha256Hex(body) } }));
    const result = await finished;
    assert.equal(result.ok, true, JSON.stringify(result.error));
    assert.equal(result.sha256, sha256Hex(body));
    assert.deepEqual(fs.readFileSync(path.join(folder, 'artifacts', 'artifact.bin')), body);
    assert.ok(snapshots.length > 0 && snapshots.at(-1)?.state === 'completed');
    assert.equal(snapshots.at(-1)?.sources.length, 2);
  });

  it('pauses and resumes through the protocol', async () => {
    const body = makeArtifact(4 * 1024 * 1024, 'pause');
    const sources = await mirrorsOf(body, 1, 2_000_000);
    const finished = resultOf('paused');
    await client.startJob('paused', jobOptions(sources));
    await snapshotWhere((snapshot) => snapshot.jobId === 'paused' && snapshot.bytesDone > 0);
    await client.pauseJob('paused');
    const paused = await snapshotWhere((snapshot) => snapshot.state === 'paused');
    await new Promise((resolve) => setTimeout(resolve, 500));
    await client.resumeJob('paused');
    const result = await finished;
    assert.equal(result.ok, true, JSON.stringify(result.error));
    assert.ok(paused.bytesDone < body.length);
  });

  it('reports the job interrupted when the worker dies, and a new worker resumes it from the journal', async () => {
    const body = makeArtifact(6 * 1024 * 1024, 'crash');
    // Slow enough that the job is still running when the worker dies (~5 s for the file).
    const sources = await mirrorsOf(body, 2, 600_000);
    const options = jobOptions(sources, { expected: { sha256: sha256Hex(body) } });
    await client.startJob('crash', options);
    // Wait past the engine's journal interval so some verified pieces are on disk.
    await snapshotWhere((snapshot) => snapshot.jobId === 'crash' && snapshot.piecesVerified > 0 && snapshot.bytesDone > 2 * 1024 * 1024);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const interrupted = waitFor<[string, { code: string }]>((listener) => { client.on('jobInterrupted', listener); return () => client.off('jobInterrupted', listener); }, () => true, 30_000);
    await workers[0].terminate();
    const [jobId, error] = await interrupted;
    assert.equal(jobId, 'crash');
    assert.equal(error.code, ErrorCode.Interrupted);

    for (const mirror of sources) mirror.update({ bytesPerSecond: undefined });
    const finished = resultOf('crash');
    await client.startJob('crash', options);
    const result = await finished;
    assert.equal(workers.length, 2);
    assert.equal(result.ok, true, JSON.stringify(result.error));
    assert.ok(result.bytesResumed > 0, `resumed ${result.bytesResumed} bytes from the journal`);
    assert.deepEqual(fs.readFileSync(options.outputPath), body);
  });

  it('cancels with discard and leaves no partial file behind', async () => {
    const body = makeArtifact(4 * 1024 * 1024, 'discard');
    const sources = await mirrorsOf(body, 1, 1_000_000);
    const finished = resultOf('discard');
    await client.startJob('discard', jobOptions(sources));
    await snapshotWhere((snapshot) => snapshot.jobId === 'discard' && snapshot.bytesDone > 0);
    await client.cancelJob('discard', true);
    const result = await finished;
    assert.equal(result.ok, false);
    assert.equal(result.error?.code, ErrorCode.Interrupted);
    const left = fs.existsSync(path.join(folder, '.artifact-fetch')) ? fs.readdirSync(path.join(folder, '.artifact-fetch')) : [];
    assert.deepEqual(left.filter((name) => name.endsWith('.part') || name.includes('journal')), []);
    assert.equal(fs.existsSync(path.join(folder, 'artifacts', 'artifact.bin')), false);
  });

  it('discards the partial data of a download interrupted by a worker death', async () => {
    const body = makeArtifact(4 * 1024 * 1024, 'orphan');
    const sources = await mirrorsOf(body, 1, 1_000_000);
    const options = jobOptions(sources);
    await client.startJob('orphan', options);
    await snapshotWhere((snapshot) => snapshot.jobId === 'orphan' && snapshot.piecesVerified > 0);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await workers[0].terminate();
    const stateDir = path.join(folder, '.artifact-fetch');
    assert.ok(fs.readdirSync(stateDir).some((name) => name.endsWith('.part')), 'the crash left partial data');
    await client.cancelJob('orphan', true, options);
    assert.deepEqual(fs.readdirSync(stateDir).filter((name) => name.endsWith('.part') || name.includes('journal')), []);
  });

  it('discovers mirrors from the primary\'s Link headers', async () => {
    const body = makeArtifact(64 * 1024, 'links');
    const [other] = await mirrorsOf(body, 1);
    const primary = await startMirror({
      body,
      path: '/artifact.bin',
      headers: { Link: `<${other.url}>; rel=duplicate; pri=1; geo=de`, Digest: `sha-256=${Buffer.from(sha256Hex(body), 'hex').toString('base64')}` },
    });
    mirrors.push(primary);
    const found = await client.request('discoverMirrors', { url: primary.url });
    assert.deepEqual(found.sources, [{ url: other.url, priority: 99, location: 'de', origin: 'link-header' }]);
    assert.equal(found.size, body.length);
    assert.equal(found.sha256, sha256Hex(body));
  });

  it('creates a manifest for a file and verifies the file against it, naming a bad piece', async () => {
    const file = path.join(folder, 'data.bin');
    const body = makeArtifact(200 * 1024, 'manifest');
    fs.writeFileSync(file, body);
    const summary = await client.request('createManifest', { path: file, pieceSize: 16 * 1024 });
    assert.equal(summary.manifestPath, `${file}.manifest.json`);
    assert.equal(summary.sha256, sha256Hex(body));
    const good = await client.request('verifyFile', { path: file, manifestPath: summary.manifestPath });
    assert.equal(good.ok, true, good.message);
    body[5 * 16 * 1024 + 7] ^= 0xff;
    fs.writeFileSync(file, body);
    const bad = await client.request('verifyFile', { path: file, manifestPath: summary.manifestPath });
    assert.equal(bad.ok, false);
    assert.deepEqual(bad.badPieces, [5]);
  });

  it('reads a Metalink file into sources and an expected hash', async () => {
    const file = path.join(folder, 'a.meta4');
    const sha = 'ab'.repeat(32);
    fs.writeFileSync(file, `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="big.iso">
    <size>1234</size>
    <hash type="sha-256">${sha}</hash>
    <url priority="2" location="de">http://127.0.0.1:1/big.iso</url>
    <url priority="1">http://127.0.0.1:2/big.iso</url>
  </file>
</metalink>`);
    const plan = await client.request('readMetalink', { path: file });
    assert.equal(plan.fileName, 'big.iso');
    assert.deepEqual(plan.expected, { sha256: sha, size: 1234 });
    assert.deepEqual(plan.sources.map((source) => source.url), ['http://127.0.0.1:1/big.iso', 'http://127.0.0.1:2/big.iso']);
  });

  it('answers a bad request with a stable error code', async () => {
    await assert.rejects(client.request('readMetalink', { path: path.join(folder, 'missing.meta4') }), (error: { code?: string }) => error.code === ErrorCode.BadArguments || error.code === ErrorCode.Disk);
    await assert.rejects(client.startJob('bad', { sources: [], outputPath: path.join(folder, 'x') }), (error: { code?: string }) => error.code === ErrorCode.BadArguments);
  });
});
