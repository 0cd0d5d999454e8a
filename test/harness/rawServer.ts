/**
 * A raw TCP server that answers with scripted bytes, for responses node:http refuses to produce:
 * two Location headers, a chunked body cut before its last chunk, bad framing, bytes after the end.
 */
import * as net from 'node:net';
import { STATUS_CODES } from 'node:http';

/**
 * One step of a scripted answer: bytes to write, a pause, or how the connection ends
 * ('end' = FIN after the writes, 'reset' = RST, 'hold' = stay open and silent).
 * A script that does not end with one of those ends with 'end'.
 */
export type RawStep = string | Buffer | { delayMs: number } | 'end' | 'reset' | 'hold';

/** A request head as received (`head` includes the request line, without the blank line). */
export interface RawRequest {
  /** 0-based over the server's lifetime. */
  index: number;
  /** 0-based connection number. */
  connection: number;
  head: string;
}

/** The same answer for every request, or one computed per request. */
export type RawScript = RawStep[] | ((request: RawRequest) => RawStep[]);

export interface RawServer {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`. */
  readonly origin: string;
  /** Request heads received, in order. */
  readonly requests: RawRequest[];
  url(path?: string): string;
  close(): Promise<void>;
}

/** Request heads larger than this are cut off (the script still runs). */
const MAX_HEAD_BYTES = 64 * 1024;

/**
 * Builds a response head (plus an optional body) byte for byte: headers are written exactly as
 * given, repeated names included, and no Content-Length is added.
 */
export function rawHttpResponse(status: number | string, headers: Array<[string, string]> = [], body: string | Buffer = ''): Buffer {
  const statusLine = typeof status === 'number' ? `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Status'}` : status;
  const head = [statusLine, ...headers.map(([name, value]) => `${name}: ${value}`)].join('\r\n') + '\r\n\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]);
}

/** Encodes chunks with chunked transfer coding; `terminate: false` leaves out the final `0` chunk. */
export function chunkedBody(chunks: Array<string | Buffer>, options: { terminate?: boolean } = {}): Buffer {
  const parts = chunks.map((chunk) => {
    const data = Buffer.from(chunk);
    return Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);
  });
  if (options.terminate !== false) parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Starts the raw server on loopback. By default each connection waits for one request head,
 * then plays the script and closes; `waitForRequest: false` plays it as soon as a client connects.
 */
export async function startRawServer(script: RawScript, options: { host?: string; waitForRequest?: boolean } = {}): Promise<RawServer> {
  const host = options.host ?? '127.0.0.1';
  const requests: RawRequest[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;

  const play = async (socket: net.Socket, request: RawRequest) => {
    const steps = typeof script === 'function' ? script(request) : script;
    for (const step of steps) {
      if (socket.destroyed) return;
      if (step === 'end') return void socket.end();
      if (step === 'reset') return void socket.resetAndDestroy();
      if (step === 'hold') return;
      if (typeof step === 'object' && 'delayMs' in step) await delay(step.delayMs);
      else socket.write(step);
    }
    socket.end();
  };

  const server = net.createServer((socket) => {
    const connection = connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (options.waitForRequest === false) {
      const request = { index: requests.length, connection, head: '' };
      requests.push(request);
      void play(socket, request);
      socket.resume();
      return;
    }
    let received = Buffer.alloc(0);
    const onData = (data: Buffer) => {
      received = Buffer.concat([received, data]);
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd < 0 && received.length < MAX_HEAD_BYTES) return;
      socket.off('data', onData);
      socket.resume();
      const request = { index: requests.length, connection, head: received.subarray(0, headEnd < 0 ? MAX_HEAD_BYTES : headEnd).toString('latin1') };
      requests.push(request);
      void play(socket, request);
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
    host,
    port,
    origin,
    requests,
    url: (path = '/') => `${origin}${path.startsWith('/') ? path : `/${path}`}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
