/**
 * A TCP proxy on loopback that sits in front of any host:port and breaks the connection in one
 * chosen way. It knows nothing of HTTP, so it reproduces faults below the protocol: slow
 * connection setup, latency per chunk, silence, resets, trickles and black holes.
 * Byte counts and faults apply to the downstream direction (target → client), per connection.
 */
import * as net from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { TokenBucket } from './tokenBucket';

/** Time for the last bytes before a reset to reach a reading client over loopback. */
const RESET_GRACE_MS = 50;

export type ProxyMode =
  /** Forward untouched. */
  | { kind: 'pass' }
  /** Wait `connectMs` before connecting upstream; hold every chunk (both directions) for `chunkMs`. */
  | { kind: 'delay'; connectMs?: number; chunkMs?: number }
  /** After `afterBytes` downstream bytes, forward nothing more but keep both sockets open. */
  | { kind: 'stall'; afterBytes: number }
  /** After `afterBytes` downstream bytes, reset the client connection (RST). */
  | { kind: 'reset'; afterBytes: number }
  /** Forward downstream at `bytesPerSecond` per connection. */
  | { kind: 'trickle'; bytesPerSecond: number }
  /** Accept connections, never connect upstream, never answer. */
  | { kind: 'blackhole' };

export interface ProxyTarget {
  host: string;
  port: number;
}

export interface FaultProxy {
  readonly host: string;
  readonly port: number;
  /** `host:port`, e.g. for a `--proxy`-less URL rewrite. */
  readonly address: string;
  /** `http://host:port`. */
  readonly origin: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Bytes forwarded target → client across all connections. */
  readonly bytesDown: number;
  /** The same URL path, reached through this proxy. */
  url(path?: string): string;
  /** Changes the mode for connections accepted from now on. */
  setMode(mode: ProxyMode): void;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

/** Holds each chunk for a fixed time without limiting throughput (pure latency). */
class DelayTransform extends Transform {
  private pending = 0;
  private flushCallback: TransformCallback | undefined;

  constructor(private readonly delayMs: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pending++;
    // Timers of equal duration fire in insertion order, so chunk order is kept.
    setTimeout(() => {
      this.push(chunk);
      if (--this.pending === 0) this.flushCallback?.();
    }, this.delayMs);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.pending === 0) callback();
    else this.flushCallback = callback;
  }
}

/** Forwards the first `limit` bytes, then calls `onLimit` and swallows the rest. */
class ByteLimitTransform extends Transform {
  private forwarded = 0;
  private fired = false;

  constructor(
    private readonly limit: number,
    private readonly onLimit: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.fired) return callback();
    const room = this.limit - this.forwarded;
    if (chunk.length < room) {
      this.forwarded += chunk.length;
      return callback(null, chunk);
    }
    this.forwarded = this.limit;
    this.fired = true;
    if (room > 0) this.push(chunk.subarray(0, room));
    this.onLimit();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    // Past the limit the stream must stay silent, not end: hold the end back too.
    if (!this.fired) callback();
  }
}

/** Paces chunks through a per-connection token bucket. */
class TrickleTransform extends Transform {
  private readonly bucket: TokenBucket;

  constructor(bytesPerSecond: number) {
    super();
    this.bucket = new TokenBucket(bytesPerSecond);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    void (async () => {
      for (let offset = 0; offset < chunk.length; ) {
        const granted = await this.bucket.take(chunk.length - offset);
        if (granted === 0) return;
        this.push(chunk.subarray(offset, offset + granted));
        offset += granted;
      }
      callback();
    })();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    this.bucket.close();
    callback(error);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseTarget(target: ProxyTarget | string): ProxyTarget {
  if (typeof target !== 'string') return target;
  const url = new URL(target.includes('://') ? target : `tcp://${target}`);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) };
}

/**
 * Starts a fault proxy on loopback in front of `target` (`{host, port}`, `host:port` or a URL).
 * `options.host` picks the listening interface (default 127.0.0.1).
 */
export async function startProxy(target: ProxyTarget | string, mode: ProxyMode = { kind: 'pass' }, options: { host?: string } = {}): Promise<FaultProxy> {
  const upstreamTarget = parseTarget(target);
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<net.Socket>();
  let currentMode = mode;
  let connections = 0;
  let bytesDown = 0;

  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };

  const handleConnection = async (client: net.Socket) => {
    connections++;
    track(client);
    const connectionMode = currentMode;
    if (connectionMode.kind === 'blackhole') {
      client.resume();
      return;
    }
    client.pause();
    if (connectionMode.kind === 'delay' && connectionMode.connectMs) {
      await delay(connectionMode.connectMs);
      if (client.destroyed) return;
    }
    const upstream = net.connect(upstreamTarget);
    track(upstream);
    upstream.once('error', () => client.resetAndDestroy());
    // A clean upstream end reaches the client through the pipes (after any delayed chunks).
    client.once('close', () => upstream.destroy());
    upstream.on('data', (chunk: Buffer) => (bytesDown += chunk.length));

    const up: NodeJS.ReadWriteStream[] = [];
    const down: NodeJS.ReadWriteStream[] = [];
    switch (connectionMode.kind) {
      case 'delay':
        if (connectionMode.chunkMs) {
          up.push(new DelayTransform(connectionMode.chunkMs));
          down.push(new DelayTransform(connectionMode.chunkMs));
        }
        break;
      case 'stall':
        down.push(new ByteLimitTransform(connectionMode.afterBytes, () => undefined));
        break;
      case 'reset':
        down.push(
          new ByteLimitTransform(connectionMode.afterBytes, () => {
            // An RST discards the kernel's send queue: give the last allowed bytes time to arrive.
            setTimeout(() => {
              client.resetAndDestroy();
              upstream.destroy();
            }, RESET_GRACE_MS);
          }),
        );
        break;
      case 'trickle':
        down.push(new TrickleTransform(connectionMode.bytesPerSecond));
        break;
      case 'pass':
        break;
    }
    chain(client, up, upstream);
    chain(upstream, down, client);
    client.resume();
  };

  const server = net.createServer((client) => void handleConnection(client));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const hostForUrl = host.includes(':') ? `[${host}]` : host;

  return {
    host,
    port,
    address: `${hostForUrl}:${port}`,
    origin: `http://${hostForUrl}:${port}`,
    get connections() {
      return connections;
    },
    get bytesDown() {
      return bytesDown;
    },
    url: (path = '/') => `http://${hostForUrl}:${port}${path.startsWith('/') ? path : `/${path}`}`,
    setMode: (next) => {
      currentMode = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** Pipes `from` through the transforms into `to`; a transform's failure tears the connection down. */
function chain(from: net.Socket, transforms: NodeJS.ReadWriteStream[], to: net.Socket): void {
  let stream: NodeJS.ReadableStream = from;
  for (const transform of transforms) {
    (transform as Transform).on('error', () => {
      from.destroy();
      to.destroy();
    });
    stream = stream.pipe(transform);
  }
  stream.pipe(to);
}
