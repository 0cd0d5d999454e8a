/**
 * A raw HTTP/1.1 server whose bodies never end (or run past what the head promised), for
 * "body longer than promised" tests: it writes a scripted head, an optional honest prefix, then
 * streams filler bytes with backpressure until the client closes the connection (or a safety cap).
 * Counts, per connection, the body bytes that actually left for the kernel (`socket.bytesWritten`).
 */
import * as net from 'node:net';
import { readFileSync } from 'node:fs';

export interface EndlessRequest {
  method: string;
  path: string;
  /** The raw Range header, if any. */
  range?: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
}

export interface EndlessConnection {
  request: EndlessRequest;
  /** Body bytes flushed to the kernel for this connection (head excluded). */
  bodyBytes: number;
  /** True once the client closed or reset the connection. */
  closed: boolean;
  closedAt?: number;
  startedAt: number;
}

export interface EndlessServerOptions {
  /** The response head for a request, written byte for byte (end it with `\r\n\r\n`). */
  head: (request: EndlessRequest) => string;
  /** 'chunked' frames the filler as chunks (no last chunk ever); 'raw' writes it unframed. */
  framing: 'chunked' | 'raw';
  /** Honest body bytes sent before the filler (e.g. the requested range). */
  prefix?: (request: EndlessRequest) => Buffer;
  /** Stop writing after this many body bytes on one connection anyway (default 1 GiB). */
  safetyCapBytes?: number;
  host?: string;
}

export interface EndlessServer {
  readonly origin: string;
  readonly connections: EndlessConnection[];
  url(path?: string): string;
  close(): Promise<void>;
}

const FILLER = Buffer.alloc(64 * 1024, 0x5a);

/** Kernel socket buffer ceilings on this machine (net.ipv4.tcp_rmem / tcp_wmem maxima), bytes. */
export function socketBufferCeiling(): { receive: number; send: number } {
  const max = (file: string, fallback: number): number => {
    try {
      return Number(readFileSync(file, 'utf8').trim().split(/\s+/)[2]) || fallback;
    } catch {
      return fallback;
    }
  };
  return { receive: max('/proc/sys/net/ipv4/tcp_rmem', 6 * 1024 * 1024), send: max('/proc/sys/net/ipv4/tcp_wmem', 4 * 1024 * 1024) };
}

function parseHead(text: string): EndlessRequest {
  const [line, ...rest] = text.split('\r\n');
  const [method = '', target = '/'] = line.split(' ');
  const headers: Record<string, string> = {};
  for (const header of rest) {
    const colon = header.indexOf(':');
    if (colon > 0) headers[header.slice(0, colon).trim().toLowerCase()] = header.slice(colon + 1).trim();
  }
  return { method, path: target, range: headers.range, headers };
}

export async function startEndlessServer(options: EndlessServerOptions): Promise<EndlessServer> {
  const host = options.host ?? '127.0.0.1';
  const cap = options.safetyCapBytes ?? 1024 * 1024 * 1024;
  const connections: EndlessConnection[] = [];
  const sockets = new Set<net.Socket>();

  const serve = async (socket: net.Socket, request: EndlessRequest): Promise<void> => {
    const entry: EndlessConnection = { request, bodyBytes: 0, closed: false, startedAt: Date.now() };
    connections.push(entry);
    const head = Buffer.from(options.head(request), 'latin1');
    const base = socket.bytesWritten;
    const update = (): void => { entry.bodyBytes = Math.max(0, socket.bytesWritten - base - head.length); };
    socket.once('close', () => { update(); entry.closed = true; entry.closedAt = Date.now(); });
    const write = async (data: Buffer): Promise<boolean> => {
      if (socket.destroyed) return false;
      if (!socket.write(data)) {
        await new Promise<void>((resolve) => {
          socket.once('drain', resolve);
          socket.once('close', resolve);
        });
      }
      update();
      return !socket.destroyed;
    };
    if (!(await write(head))) return;
    const prefix = options.prefix?.(request);
    if (prefix && prefix.length > 0) {
      if (options.framing === 'chunked') {
        if (!(await write(Buffer.from(`${prefix.length.toString(16)}\r\n`)))) return;
        if (!(await write(prefix))) return;
        if (!(await write(Buffer.from('\r\n')))) return;
      } else if (!(await write(prefix))) return;
    }
    const framed = options.framing === 'chunked' ? Buffer.concat([Buffer.from(`${FILLER.length.toString(16)}\r\n`), FILLER, Buffer.from('\r\n')]) : FILLER;
    while (!socket.destroyed && entry.bodyBytes < cap) {
      if (!(await write(framed))) return;
    }
    socket.destroy();
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let received = Buffer.alloc(0);
    const onData = (data: Buffer): void => {
      received = Buffer.concat([received, data]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.resume();
      void serve(socket, parseHead(received.subarray(0, end).toString('latin1')));
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    origin,
    connections,
    url: (p = '/artifact.bin') => `${origin}${p.startsWith('/') ? p : `/${p}`}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    }),
  };
}
