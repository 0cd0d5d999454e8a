'use strict';
/* global setTimeout -- Node globals the repo's eslint config does not declare for .js */
/**
 * One bench mirror in its own process, so its pacing never competes with the bench driver's
 * event loop. Serves a file with HEAD, GET and single byte ranges.
 *
 * Start: child_process.fork(__filename, [JSON.stringify(config)]) with config
 *   { file, host = '127.0.0.1', bytesPerSecond = 0 (uncapped), latencyMs = 0,
 *     dieAfterMs?, corruptEvery? }
 * IPC, child → parent: { type: 'ready', port, size }, { type: 'died', at } (epoch ms),
 *                      { type: 'stats', bytesServed, requests, socketsAccepted, peakOpenSockets }
 * IPC, parent → child: { type: 'arm' } starts the dieAfterMs clock (sent at the tool's spawn),
 *                      { type: 'stats' } asks for a stats reply,
 *                      { type: 'reset' } zeroes the counters (answered with { type: 'reset' }).
 *
 * bytesPerSecond is an aggregate cap shared by all connections (one token bucket). corruptEvery
 * flips the last byte of every corruptEvery-byte block of the file (offsets N-1, 2N-1, …) in
 * every response that covers it; the size and headers stay the same.
 */
const fs = require('node:fs');
const http = require('node:http');
const { TokenBucket } = require('./tokenBucket');

const config = JSON.parse(process.argv[2] || '{}');
const host = config.host || '127.0.0.1';
const size = fs.statSync(config.file).size;
const mtime = fs.statSync(config.file).mtime;
const etag = `"${size.toString(16)}-${mtime.getTime().toString(16)}"`;
const bucket = config.bytesPerSecond > 0 ? new TokenBucket(config.bytesPerSecond) : undefined;
/** Uncapped and clean responses are piped straight from 1 MiB file reads. */
const UNCAPPED_READ_BYTES = 1024 * 1024;
/** Paced responses read smaller blocks, then hand them out in token-bucket grants. */
const PACED_READ_BYTES = 256 * 1024;

const stats = { bytesServed: 0, requests: 0, socketsAccepted: 0, peakOpenSockets: 0 };
const sockets = new Set();
let alive = true;

/** Single range per RFC 9110; anything else is served whole (a server may ignore Range). */
function parseRange(header) {
  const match = header && /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return { kind: 'full' };
  if (match[1] === '') {
    const suffix = Number(match[2]);
    return suffix === 0 ? { kind: 'unsatisfiable' } : { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size) return { kind: 'unsatisfiable' };
  return end < start ? { kind: 'full' } : { kind: 'partial', start, end };
}

/** Flips the corrupt offsets inside a chunk that starts at absolute `position` (in place: the chunk is ours). */
function corruptChunk(chunk, position) {
  const every = config.corruptEvery;
  for (let offset = Math.ceil((position + 1) / every) * every - 1; offset < position + chunk.length; offset += every) {
    chunk[offset - position] ^= 0xff;
  }
}

function whenDrained(res) {
  return new Promise((resolve) => {
    const done = (drained) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(drained);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

/** Streams [start, end] of the file into res, through the cap and the corruption when configured. */
function sendBody(res, start, end) {
  const paced = Boolean(bucket || config.corruptEvery);
  const stream = fs.createReadStream(config.file, { start, end, highWaterMark: paced ? PACED_READ_BYTES : UNCAPPED_READ_BYTES });
  res.once('close', () => stream.destroy());
  stream.once('error', () => res.destroy());
  if (!paced) {
    stream.on('data', (chunk) => (stats.bytesServed += chunk.length));
    stream.pipe(res);
    return;
  }
  let position = start;
  // 'end' may come while the last chunk is still being paced out: end the response after it.
  let busy = false;
  let ended = false;
  stream.once('end', () => {
    ended = true;
    if (!busy) res.end();
  });
  stream.on('data', (chunk) => {
    stream.pause();
    busy = true;
    void (async () => {
      if (config.corruptEvery) corruptChunk(chunk, position);
      position += chunk.length;
      for (let offset = 0; offset < chunk.length; ) {
        const length = bucket ? await bucket.take(chunk.length - offset) : chunk.length - offset;
        if (length === 0 || res.destroyed) return;
        stats.bytesServed += length;
        const flowing = res.write(chunk.subarray(offset, offset + length));
        offset += length;
        if (!flowing && !(await whenDrained(res))) return;
      }
      busy = false;
      if (ended) res.end();
      else stream.resume();
    })();
  });
}

function handle(req, res) {
  stats.requests++;
  const respond = () => {
    if (res.destroyed || !alive) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': '0' }).end();
      return;
    }
    const range = parseRange(req.headers.range);
    const headers = {
      'Accept-Ranges': 'bytes',
      'Content-Type': 'application/octet-stream',
      ETag: etag,
      'Last-Modified': mtime.toUTCString(),
    };
    if (range.kind === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': '0' }).end();
      return;
    }
    const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, size - 1];
    headers['Content-Length'] = String(end - start + 1);
    if (range.kind === 'partial') headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(range.kind === 'partial' ? 206 : 200, headers);
    if (req.method === 'HEAD' || end < start) res.end();
    else sendBody(res, start, end);
  };
  if (config.latencyMs > 0) setTimeout(respond, config.latencyMs);
  else respond();
}

/** The mirror dies: no more connections, every open one destroyed; the process stays for stats. */
function die() {
  if (!alive) return;
  alive = false;
  bucket?.close();
  server.close();
  for (const socket of sockets) socket.destroy();
  process.send?.({ type: 'died', at: Date.now() });
}

const server = http.createServer(handle);
server.keepAliveTimeout = 60_000;
server.on('connection', (socket) => {
  stats.socketsAccepted++;
  sockets.add(socket);
  stats.peakOpenSockets = Math.max(stats.peakOpenSockets, sockets.size);
  socket.once('close', () => sockets.delete(socket));
});

process.on('message', (message) => {
  if (message?.type === 'arm' && config.dieAfterMs !== undefined) setTimeout(die, config.dieAfterMs);
  if (message?.type === 'stats') process.send?.({ type: 'stats', ...stats });
  if (message?.type === 'reset') {
    // After the driver's warm-up requests: counters start at zero for the measured run.
    Object.assign(stats, { bytesServed: 0, requests: 0, socketsAccepted: 0, peakOpenSockets: sockets.size });
    process.send?.({ type: 'reset' });
  }
});
// The bench driver is gone (killed or crashed): never outlive it.
process.on('disconnect', () => process.exit(0));

server.listen(0, host, () => {
  process.send?.({ type: 'ready', port: server.address().port, size });
});
