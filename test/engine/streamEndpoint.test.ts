import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { DownloadJob } from '../../src/engine/downloadJob';
import { StreamEndpoint } from '../../src/engine/stream/streamEndpoint';
import { makeArtifact, sha256Hex } from '../harness/artifact';
import { httpGet } from '../harness-selftest/httpGet';
import { KiB, MiB, useFixtures } from './fixtures';

describe('engine: the loopback stream endpoint', function () {
  this.timeout(40_000);
  const fx = useFixtures();
  const body = makeArtifact(4 * MiB + 321, 'endpoint');

  /** A job on one throttled mirror, published on a fresh endpoint; not started yet. */
  async function publishedJob(bytesPerSecond = 4e6) {
    const mirror = await fx.mirror({ body, bytesPerSecond });
    const output = path.join(await fx.tempDir(), 'model.bin');
    const job = new DownloadJob({ sources: [{ url: mirror.url }], outputPath: output, expected: { sha256: sha256Hex(body) }, pieceSize: 64 * KiB });
    const endpoint = await StreamEndpoint.start();
    fx.defer(() => endpoint.close());
    const url = endpoint.publish(job.id, 'model.bin', job.streams);
    const start = () => {
      const running = job.run();
      fx.track(job, running);
      return running;
    };
    return { job, endpoint, url, start };
  }

  it('GET while the job runs returns the whole file (200, exact Content-Length), in order as it verifies', async () => {
    const { url, start } = await publishedJob();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/[^/]+\/model\.bin\?token=[A-Za-z0-9_-]{43}$/);
    const response = httpGet(url);
    const [got, result] = await Promise.all([response, start()]);
    assert.equal(result.ok, true, result.error?.message);
    assert.equal(got.status, 200);
    assert.equal(got.headers['content-length'], String(body.length));
    assert.equal(got.headers['accept-ranges'], 'bytes');
    assert.ok(got.body.equals(body), 'the body equals the artifact');
  });

  it('a Range in the middle answers 206 with the exact Content-Range; past the end answers 416', async () => {
    const { url, start } = await publishedJob();
    const running = start();
    const first = 1_500_000;
    const last = 2_600_000;
    const [middle, suffix, outside] = await Promise.all([
      httpGet(url, { headers: { Range: `bytes=${first}-${last}` } }),
      httpGet(url, { headers: { Range: 'bytes=-1000' } }),
      httpGet(url, { headers: { Range: `bytes=${body.length}-` } }),
    ]);
    assert.equal(middle.status, 206);
    assert.equal(middle.headers['content-range'], `bytes ${first}-${last}/${body.length}`);
    assert.ok(middle.body.equals(body.subarray(first, last + 1)));
    assert.equal(suffix.status, 206);
    assert.equal(suffix.headers['content-range'], `bytes ${body.length - 1000}-${body.length - 1}/${body.length}`);
    assert.ok(suffix.body.equals(body.subarray(body.length - 1000)));
    assert.equal(outside.status, 416);
    assert.equal(outside.headers['content-range'], `bytes */${body.length}`);
    assert.equal((await running).ok, true);
  });

  it('refuses a wrong or missing token and an unknown job with 403, other Host names with 421, cross-site requests with 403', async () => {
    const { url, endpoint, job } = await publishedJob();
    const parsed = new URL(url);
    const wrongToken = new URL(url);
    wrongToken.searchParams.set('token', 'A'.repeat(43));
    const noToken = `${parsed.origin}${parsed.pathname}`;
    const otherJob = `${endpoint.origin}/not-a-job/model.bin${parsed.search}`;
    for (const target of [wrongToken.href, noToken, otherJob]) {
      const got = await httpGet(target);
      assert.equal(got.status, 403, target);
      assert.ok(!got.body.includes(body.subarray(0, 64)));
    }
    const rebound = await httpGet(url, { headers: { Host: `attacker.example:${parsed.port}` } });
    assert.equal(rebound.status, 421, 'DNS rebinding: another host name');
    const crossSite = await httpGet(url, { headers: { 'Sec-Fetch-Site': 'cross-site' } });
    assert.equal(crossSite.status, 403);
    const post = await httpGet(url, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(job.streams.readerCount, 0, 'no refused request opened a reader');
  });

  it('a response whose job fails is cut short (fewer bytes than Content-Length)', async () => {
    const mirror = await fx.mirror({ body, bytesPerSecond: 6e6, corrupt: { offsets: [2_000_000] } });
    const output = path.join(await fx.tempDir(), 'bad.bin');
    const job = new DownloadJob({ sources: [{ url: mirror.url }], outputPath: output, expected: { sha256: sha256Hex(body) }, pieceSize: 64 * KiB });
    const endpoint = await StreamEndpoint.start();
    fx.defer(() => endpoint.close());
    const url = endpoint.publish(job.id, 'bad.bin', job.streams);
    const running = job.run();
    fx.track(job, running);
    const [got, result] = await Promise.all([httpGet(url), running]);
    assert.equal(result.ok, false);
    assert.equal(got.headers['content-length'], String(body.length));
    assert.ok(got.body.length < body.length, `${got.body.length} bytes arrived`);
    assert.ok(got.error !== undefined || got.socketError !== undefined, 'the client saw the response end early');
  });
});
