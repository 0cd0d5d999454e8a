import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ErrorCode, FetchError } from '../../src/engine/errors';
import type { DownloadResult } from '../../src/engine/snapshot';
import type { EngineClient } from '../../src/worker/engineClient';
import { readStreamUrl } from '../../src/worker/streamUrlReader';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { startMirror, type Mirror } from '../harness/mirrorServer';
import { clientFor, waitFor, WORKER_MAIN } from './fixtures/workerSpawning';

/** The stream URL of a running download, through the real worker and the client the extension uses. */
describe('engine worker: stream URLs (openStreamUrl, the API\'s openStream)', function () {
  this.timeout(60_000);
  let client: EngineClient;
  let folder: string;
  let mirror: Mirror | undefined;

  beforeEach(() => {
    ({ client } = clientFor(WORKER_MAIN));
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'af-worker-stream-'));
  });

  afterEach(async () => {
    await client.dispose();
    await mirror?.close();
    fs.rmSync(folder, { recursive: true, force: true });
  });

  it('a running download has a 127.0.0.1 URL with a token; reading it yields the verified file', async () => {
    const body = makeArtifact(3 * 1024 * 1024 + 9, 'worker-stream');
    mirror = await startMirror({ body, bytesPerSecond: 3e6 });
    const finished = waitFor<[string, DownloadResult]>((listener) => { client.on('jobResult', listener); return () => client.off('jobResult', listener); }, (id) => id === 's1', 45_000);
    await client.startJob('s1', { sources: [{ url: mirror.url }], outputPath: path.join(folder, 'model.bin'), expected: { sha256: sha256Hex(body) }, pieceSize: 64 * 1024 });
    const url = await client.openStreamUrl('s1');
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/s1\/model\.bin\?token=[\w-]{43}$/);
    assert.equal(await client.openStreamUrl('s1'), url, 'the same URL while the download runs');
    const stream = await readStreamUrl(url);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    assert.ok(Buffer.concat(chunks).equals(body));
    const [, result] = await finished;
    assert.equal(result.ok, true);
    await assert.rejects(client.openStreamUrl('s1'), (error: FetchError) => error.code === ErrorCode.BadArguments, 'no URL once it stopped running');
    await assert.rejects(readStreamUrl(url), /403/, 'the old URL is refused');
  });
});
