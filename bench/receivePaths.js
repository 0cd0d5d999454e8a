'use strict';
/* global setTimeout, Buffer, URL, __filename -- Node globals the repo's eslint config does not declare for .js */
/**
 * How fast can Node receive bytes on this machine at all? Fetches a 512 MiB artifact from one
 * nginx mirror over 4 connections (one range each) and throws the bytes away, three ways, each
 * in a fresh process:
 *   stream — net.Socket 'data' events: Node allocates a new buffer for every read;
 *   onread — net.Socket with `onread`: every read lands in one reused buffer;
 *   undici — undici's Pool and request(), the body read as a stream, Node's default reads;
 *   undici-slots — the same, with the sockets reading into a ring of reused slots (64 KiB, or
 *            BENCH_SLOT_KB) through undici's connector (`connect: { onread }`), as the engine's
 *            sockets do
 *            (src/engine/receiveBuffers.ts; here the bytes are dropped at once, so a ring will do);
 *   dispatch-slots — the same slots, with undici's dispatch() and a handler of our own instead of
 *            request()'s body stream: what a stream-free body path could gain (0.56 vs 0.58 s
 *            for undici-slots when last measured: the body stream is not where the time goes).
 * No hashing and no disk: the floor under profile a's receive path. Prints seconds per path
 * (median of BENCH_REPEAT runs, default 3) and each as a multiple of `onread`.
 *
 *   node bench/receivePaths.js            (needs nginx on the PATH)
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { nginxAvailable, startNginxMirror } = require('./nginxMirror');
const { writeArtifactFile } = require('./artifactFile');

const SIZE_BYTES = Number(process.env.BENCH_SIZE_MB || 512) * 1024 * 1024;
const CONNECTIONS = 4;
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT || 3));
const PATHS = (process.env.BENCH_PATHS || 'stream,onread,undici,undici-slots,dispatch-slots').split(',');
/** Bytes per slot of the slots paths (the engine's sockets start at 64 KiB and grow to 256 KiB). */
const SLOT_BYTES = Number(process.env.BENCH_SLOT_KB || 64) * 1024;

/** The receiving side, run as `node receivePaths.js --receive <path> <url> <size>`. */
async function receive(kind, url, size) {
  const net = require('node:net');
  const { port, hostname, pathname } = new URL(url);
  const share = size / CONNECTIONS;
  const started = process.hrtime.bigint();
  const rangeOf = (i) => `bytes=${i * share}-${(i + 1) * share - 1}`;
  const viaSocket = (i, withOnread) =>
    new Promise((resolve, reject) => {
      let headerDone = false;
      let body = 0;
      const take = (chunk, length) => {
        let start = 0;
        if (!headerDone) {
          const end = chunk.subarray(0, length).indexOf('\r\n\r\n');
          if (end < 0) return reject(new Error('response head split across reads'));
          headerDone = true;
          start = end + 4;
        }
        body += length - start;
        if (body >= share) {
          socket.destroy();
          resolve();
        }
      };
      const options = { port: Number(port), host: hostname };
      if (withOnread) options.onread = { buffer: Buffer.allocUnsafe(256 * 1024), callback: (length, buffer) => take(buffer, length) };
      const socket = net.connect(options, () => socket.write(`GET ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\nRange: ${rangeOf(i)}\r\n\r\n`));
      if (!withOnread) socket.on('data', (chunk) => take(chunk, chunk.length));
      socket.on('error', reject);
    });
  const viaUndici = async (pool, i) => {
    const { body } = await pool.request({ path: pathname, method: 'GET', headers: { range: rangeOf(i) } });
    await new Promise((resolve, reject) => body.on('data', () => undefined).on('end', resolve).on('error', reject));
  };
  // undici's dispatch() with a handler of our own: no body stream, the chunks come straight from
  // the parser (what src/engine's segment bodies do).
  const viaDispatch = (pool, i) =>
    new Promise((resolve, reject) => {
      pool.dispatch(
        { path: pathname, method: 'GET', headers: { range: rangeOf(i) } },
        {
          onRequestStart() {},
          onResponseStart() {},
          onResponseData() {},
          onResponseEnd: () => resolve(),
          onResponseError: (_controller, error) => reject(error),
        },
      );
    });
  if (kind === 'undici' || kind === 'undici-slots' || kind === 'dispatch-slots') {
    const { Pool } = require('undici');
    const ring = Array.from({ length: 64 }, () => Buffer.allocUnsafeSlow(SLOT_BYTES));
    let next = 0;
    const onread = {
      buffer: () => ring[next++ % ring.length],
      callback(length, buffer) {
        return this.push(buffer.subarray(0, length));
      },
    };
    const pool = new Pool(`http://${hostname}:${port}`, { connections: CONNECTIONS, ...(kind !== 'undici' ? { connect: { onread } } : {}) });
    await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => (kind === 'dispatch-slots' ? viaDispatch(pool, i) : viaUndici(pool, i))));
  } else {
    await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => viaSocket(i, kind === 'onread')));
  }
  process.stdout.write(String(Number(process.hrtime.bigint() - started) / 1e9));
  process.exit(0);
}

async function main() {
  if (!nginxAvailable()) {
    console.error('receivePaths: nginx is not installed (apt-get install nginx)');
    process.exit(1);
  }
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'af-receive-'));
  const children = [];
  try {
    const file = path.join(workDir, 'artifact.bin');
    await writeArtifactFile(file, SIZE_BYTES);
    const mirror = await startNginxMirror({ bytesPerSecond: 0, latencyMs: 0 }, file, workDir, (child) => children.push(child));
    await mirror.warmUp();
    const runs = Object.fromEntries(PATHS.map((kind) => [kind, []]));
    for (let round = 0; round < REPEAT; round++) {
      for (const kind of PATHS) {
        const run = spawnSync(process.execPath, [__filename, '--receive', kind, mirror.url, String(SIZE_BYTES)], { encoding: 'utf8', env: { PATH: process.env.PATH, BENCH_SLOT_KB: String(SLOT_BYTES / 1024) } });
        if (run.status !== 0) throw new Error(`${kind}: ${run.stderr.trim()}`);
        runs[kind].push(Number(run.stdout));
      }
    }
    const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const floor = runs.onread ? median(runs.onread) : undefined;
    const width = Math.max(...PATHS.map((kind) => kind.length)) + 1;
    console.log(`Receiving ${SIZE_BYTES / 1024 / 1024} MiB from nginx over ${CONNECTIONS} connections, bytes discarded (median of ${REPEAT}):`);
    for (const kind of PATHS) {
      const seconds = median(runs[kind]);
      console.log(`  ${kind.padEnd(width)} ${seconds.toFixed(3)} s  ${(SIZE_BYTES / seconds / 1e6).toFixed(0).padStart(5)} MB/s  ${floor ? `${(seconds / floor).toFixed(2)}× onread` : ''}  runs: ${runs[kind].map((s) => s.toFixed(3)).join(', ')}`);
    }
    mirror.stop();
  } finally {
    for (const child of children) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--receive') {
  receive(process.argv[3], process.argv[4], Number(process.argv[5])).catch((error) => {
    console.error(error.message);
    process.exit(1);
  });
} else {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
