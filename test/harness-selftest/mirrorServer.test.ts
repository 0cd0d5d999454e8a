import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeArtifact, sha256Hex, writeArtifactFile } from '../harness/artifact';
import { startMirror, type Mirror, type MirrorOptions } from '../harness/mirrorServer';
import { httpGet } from './httpGet';

describe('harness: mirrorServer', () => {
  const body = makeArtifact(1024 * 1024, 'mirror-selftest');
  const mirrors: Mirror[] = [];
  const start = async (options: Partial<MirrorOptions> = {}) => {
    const mirror = await startMirror({ body, ...options });
    mirrors.push(mirror);
    return mirror;
  };
  afterEach(async () => {
    await Promise.all(mirrors.splice(0).map((mirror) => mirror.close()));
  });

  describe('serving', () => {
    it('answers HEAD with the size, validators, Accept-Ranges and extra headers', async () => {
      const mirror = await start({ headers: { Link: '<http://127.0.0.2/x>; rel=duplicate' } });
      const head = await httpGet(mirror.url, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], String(body.length));
      assert.equal(head.headers['accept-ranges'], 'bytes');
      assert.match(head.headers.etag ?? '', /^"[0-9a-f]{16}"$/);
      assert.equal(head.headers['last-modified'], 'Mon, 01 Jan 2024 00:00:00 GMT');
      assert.equal(head.headers.link, '<http://127.0.0.2/x>; rel=duplicate');
      assert.equal(head.body.length, 0);
    });

    it('gives two mirrors of the same bytes the same ETag', async () => {
      const [first, second] = [await start(), await start({ host: '127.0.0.2' })];
      assert.ok(second.url.startsWith('http://127.0.0.2:'));
      const [a, b] = await Promise.all([httpGet(first.url, { method: 'HEAD' }), httpGet(second.url, { method: 'HEAD' })]);
      assert.equal(a.headers.etag, b.headers.etag);
    });

    it('serves the full body, and only at `path` when one is given', async () => {
      const mirror = await start({ path: '/models/a.bin' });
      const full = await httpGet(mirror.url);
      assert.equal(full.status, 200);
      assert.equal(sha256Hex(full.body), sha256Hex(body));
      assert.equal((await httpGet(mirror.urlFor('/other.bin'))).status, 404);
    });

    it('answers byte ranges with 206 and an exact Content-Range', async () => {
      const mirror = await start();
      const cases: Array<[string, number, number]> = [
        ['bytes=0-0', 0, 0],
        ['bytes=100-199', 100, 199],
        ['bytes=1000000-', 1000000, body.length - 1],
        ['bytes=-500', body.length - 500, body.length - 1],
        ['bytes=1048000-9999999', 1048000, body.length - 1],
      ];
      for (const [range, first, last] of cases) {
        const response = await httpGet(mirror.url, { headers: { Range: range } });
        assert.equal(response.status, 206, range);
        assert.equal(response.headers['content-range'], `bytes ${first}-${last}/${body.length}`, range);
        assert.ok(response.body.equals(body.subarray(first, last + 1)), range);
      }
      const beyond = await httpGet(mirror.url, { headers: { Range: `bytes=${body.length}-` } });
      assert.equal(beyond.status, 416);
      assert.equal(beyond.headers['content-range'], `bytes */${body.length}`);
    });

    it('sends the whole body when If-Range carries a stale validator', async () => {
      const mirror = await start({ etag: '"v2"' });
      const stale = await httpGet(mirror.url, { headers: { Range: 'bytes=10-19', 'If-Range': '"v1"' } });
      assert.equal(stale.status, 200);
      const fresh = await httpGet(mirror.url, { headers: { Range: 'bytes=10-19', 'If-Range': '"v2"' } });
      assert.equal(fresh.status, 206);
    });

    it('serves a file from disk', async () => {
      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'af-harness-'));
      try {
        const file = path.join(dir, 'artifact.bin');
        const digest = await writeArtifactFile(file, 3 * 1024 * 1024 + 7, 'file');
        const mirror = await startMirror({ file });
        mirrors.push(mirror);
        assert.equal(mirror.size, 3 * 1024 * 1024 + 7);
        assert.equal(sha256Hex((await httpGet(mirror.url)).body), digest);
        const tail = await httpGet(mirror.url, { headers: { Range: 'bytes=-7' } });
        assert.ok(tail.body.equals(makeArtifact(3 * 1024 * 1024 + 7, 'file').subarray(-7)));
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    });

    it('logs every request with its range, status and bytes', async () => {
      const mirror = await start();
      await httpGet(mirror.url, { method: 'HEAD' });
      await httpGet(mirror.url, { headers: { Range: 'bytes=0-99' } });
      assert.deepEqual(
        mirror.requests.map(({ method, range, status, bytesSent, outcome }) => ({ method, range, status, bytesSent, outcome })),
        [
          { method: 'HEAD', range: undefined, status: 200, bytesSent: 0, outcome: 'complete' },
          { method: 'GET', range: 'bytes=0-99', status: 206, bytesSent: 100, outcome: 'complete' },
        ],
      );
      assert.equal(mirror.bytesServed, 100);
      assert.equal(mirror.socketsAccepted, 2);
    });
  });

  describe('bandwidth cap', () => {
    const rate = 2_000_000;
    const windowMs = 1000;

    /** Starts `connections` full downloads at once and counts each one's bytes for `windowMs`. */
    async function bytesPerConnection(mirror: Mirror, connections: number): Promise<number[]> {
      const counts = new Array<number>(connections).fill(0);
      const requests = counts.map((_, i) => httpGet(mirror.url, { timeoutMs: windowMs, onData: (chunk) => (counts[i] += chunk.length) }));
      await Promise.all(requests);
      return counts;
    }

    it('gives one connection the whole rate', async () => {
      const mirror = await start({ body: makeArtifact(8_000_000, 'cap'), bytesPerSecond: rate });
      const [bytes] = await bytesPerConnection(mirror, 1);
      // Never above the cap; below it only when the machine is busy (CI shares two cores).
      assert.ok(bytes < rate * 1.15 && bytes > rate * 0.5, `one connection got ${bytes} B/s`);
    });

    it('shares the rate between connections (an aggregate cap, not per connection)', async () => {
      const mirror = await start({ body: makeArtifact(8_000_000, 'cap'), bytesPerSecond: rate });
      const counts = await bytesPerConnection(mirror, 2);
      const total = counts[0] + counts[1];
      assert.ok(total < rate * 1.15 && total > rate * 0.5, `two connections got ${total} B/s in total`);
      // Per-connection caps would give each about the whole rate: shared, each gets about half.
      for (const bytes of counts) assert.ok(bytes < rate * 0.65, `one of two connections got ${bytes} B/s`);
    });

    it('is smooth: no 100 ms window carries much more than its share', async () => {
      const mirror = await start({ body: makeArtifact(8_000_000, 'cap'), bytesPerSecond: rate });
      const arrivals: Array<[number, number]> = [];
      const started = performance.now();
      await httpGet(mirror.url, { timeoutMs: windowMs, onData: (chunk) => arrivals.push([performance.now() - started, chunk.length]) });
      const windows = new Array<number>(Math.floor(windowMs / 100)).fill(0);
      for (const [at, length] of arrivals) if (at < windowMs) windows[Math.floor(at / 100)] += length;
      // Skip the first window (connection setup) and the last (cut by the timeout).
      for (const bytes of windows.slice(1, -1)) assert.ok(bytes < rate * 0.1 * 2, `a 100 ms window carried ${bytes} bytes`);
    });
  });

  describe('faults', () => {
    it('delays the response headers by latencyMs', async () => {
      const mirror = await start({ latencyMs: 150 });
      const response = await httpGet(mirror.url, { headers: { Range: 'bytes=0-9' } });
      assert.ok(response.headersMs >= 145, `headers after ${response.headersMs} ms`);
    });

    it('stalls after N bytes of a request and keeps the socket open', async () => {
      const mirror = await start({ stallAfterBytes: 5000 });
      const response = await httpGet(mirror.url, { timeoutMs: 400 });
      assert.equal(response.error, 'timeout');
      assert.equal(response.body.length, 5000);
      assert.equal(mirror.requests[0].outcome, 'stalled');
    });

    it('stalls only the first request when times is 1', async () => {
      const mirror = await start({ stallAfterBytes: { afterBytes: 10, times: 1 } });
      assert.equal((await httpGet(mirror.url, { timeoutMs: 300 })).error, 'timeout');
      const second = await httpGet(mirror.url);
      assert.equal(second.error, undefined);
      assert.equal(second.body.length, body.length);
    });

    it('stalls every request once the mirror has served N bytes in total', async () => {
      const mirror = await start({ stallAfterBytes: { afterBytes: 1500, scope: 'total' } });
      assert.equal((await httpGet(mirror.url, { headers: { Range: 'bytes=0-999' } })).body.length, 1000);
      const second = await httpGet(mirror.url, { headers: { Range: 'bytes=0-999' }, timeoutMs: 300 });
      assert.equal(second.error, 'timeout');
      assert.equal(second.body.length, 500);
    });

    it('resets the connection after N bytes', async () => {
      const mirror = await start({ resetAfterBytes: 300_000 });
      const response = await httpGet(mirror.url);
      assert.ok(response.error);
      assert.equal(response.socketError, 'ECONNRESET');
      assert.equal(response.body.length, 300_000);
    });

    it('truncates: closes cleanly before Content-Length is reached', async () => {
      const mirror = await start({ truncateAfterBytes: 4096 });
      const response = await httpGet(mirror.url);
      assert.equal(response.headers['content-length'], String(body.length));
      assert.ok(response.error, 'the client must notice the short body');
      assert.equal(response.socketError, undefined, 'a clean FIN, not a reset');
      assert.equal(response.body.length, 4096);
      assert.equal(mirror.requests[0].outcome, 'truncated');
    });

    it('flips bytes at absolute offsets in whatever range covers them', async () => {
      const offsets = [0, 70_000, 1_048_575];
      const mirror = await start({ corrupt: { offsets } });
      const full = (await httpGet(mirror.url)).body;
      assert.equal(full.length, body.length);
      const differing = differingOffsets(full, body);
      assert.deepEqual(differing, offsets);
      const ranged = (await httpGet(mirror.url, { headers: { Range: 'bytes=69990-70009' } })).body;
      assert.equal(ranged[10], body[70_000] ^ 0xff);
      assert.ok(ranged.subarray(0, 10).equals(body.subarray(69_990, 70_000)));
    });

    it('flips the last byte of every block with corrupt.everyBytes', async () => {
      const mirror = await start({ corrupt: { everyBytes: 262_144 } });
      const full = (await httpGet(mirror.url)).body;
      const differing = differingOffsets(full, body);
      assert.deepEqual(differing, [262_143, 524_287, 786_431, 1_048_575]);
    });

    it('ignores Range with ignoreRange: 200 and the full body', async () => {
      const mirror = await start({ ignoreRange: true });
      const response = await httpGet(mirror.url, { headers: { Range: 'bytes=100-199' } });
      assert.equal(response.status, 200);
      assert.equal(response.body.length, body.length);
    });

    it('lies in Content-Range with wrongContentRange', async () => {
      const expectations: Array<[MirrorOptions['wrongContentRange'], string | undefined]> = [
        [true, `bytes 101-200/${body.length}`],
        ['malformed', 'bytes bad'],
        ['missing', undefined],
        ['wrong-total', `bytes 100-199/${body.length + 1}`],
      ];
      for (const [wrongContentRange, expected] of expectations) {
        const mirror = await start({ wrongContentRange });
        const response = await httpGet(mirror.url, { headers: { Range: 'bytes=100-199' } });
        assert.equal(response.status, 206);
        assert.equal(response.headers['content-range'], expected);
        assert.ok(response.body.equals(body.subarray(100, 200)));
      }
    });

    it('plays a status script before serving normally', async () => {
      const mirror = await start({ statusScript: [{ status: 503, headers: { 'Retry-After': '1' }, times: 2 }, { status: 429 }] });
      const statuses: Array<[number, string | undefined]> = [];
      for (let i = 0; i < 4; i++) {
        const response = await httpGet(mirror.url, { headers: { Range: 'bytes=0-9' } });
        statuses.push([response.status, response.headers['retry-after']]);
      }
      assert.deepEqual(statuses, [[503, '1'], [503, '1'], [429, undefined], [206, undefined]]);
    });

    it('dies after dieAfterMs: in-flight transfers break and new connections are refused', async () => {
      const mirror = await start({ bytesPerSecond: 1_000_000, dieAfterMs: 300 });
      const inFlight = await httpGet(mirror.url);
      assert.ok(inFlight.error, 'the transfer in flight must fail');
      assert.ok(inFlight.body.length > 100_000 && inFlight.body.length < 500_000, `got ${inFlight.body.length} bytes before dying`);
      assert.equal(mirror.alive, false);
      assert.equal((await httpGet(mirror.url)).error, 'ECONNREFUSED');
    });

    it('redirects with redirectTo', async () => {
      const target = await start();
      const mirror = await start({ redirectTo: target.url, redirectStatus: 301 });
      const response = await httpGet(mirror.url);
      assert.equal(response.status, 301);
      assert.equal(response.headers.location, target.url);
    });

    it('lets an onRequest hook answer some requests itself', async () => {
      const mirror = await start({
        onRequest: (req, res) => {
          if (req.headers.range !== 'bytes=0-0') return false;
          res.writeHead(200, { 'Content-Length': '2' }).end('hi');
          return true;
        },
      });
      assert.equal((await httpGet(mirror.url, { headers: { Range: 'bytes=0-0' } })).body.toString(), 'hi');
      assert.equal((await httpGet(mirror.url, { headers: { Range: 'bytes=0-1' } })).status, 206);
      assert.deepEqual(
        mirror.requests.map((request) => [request.status, request.outcome]),
        [
          [200, 'hook'],
          [206, 'complete'],
        ],
      );
    });

    it('applies update() to later requests', async () => {
      const mirror = await start();
      mirror.update({ statusScript: [{ status: 404 }] });
      assert.equal((await httpGet(mirror.url)).status, 404);
      assert.equal((await httpGet(mirror.url)).status, 200);
    });
  });
});

/** Offsets where two equally long buffers differ. */
function differingOffsets(a: Buffer, b: Buffer): number[] {
  const offsets: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) offsets.push(i);
  return offsets;
}
