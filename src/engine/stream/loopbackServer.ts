/**
 * The loopback HTTP server behind every stream URL: listens on 127.0.0.1 only, answers GET and
 * HEAD with 200 or 206 (exact Content-Range) or 416, and pipes a byte source into the response
 * with backpressure; a response blocks while its bytes are not verified yet.
 *
 * Guards, in order: the peer must be a loopback address; the Host header must name this server
 * by a loopback name (421 otherwise: a DNS-rebinding page reaches us under its own host name);
 * a browser request from another site (`Sec-Fetch-Site: cross-site|same-site`, or an `Origin`)
 * is refused with 403; then the resolver decides (tokens, paths).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline, type Readable } from 'node:stream';
import { parseByteRange } from './byteRange';

/** Bytes the server can send: a job's verified stream, or a finished file. */
export interface ByteSource {
  /** File name for Content-Disposition. */
  name: string;
  /** The size, once known (a job still probing makes the response wait). */
  size(): Promise<number>;
  /** Bytes [start, end) in order. */
  open(start: number, end: number): Readable;
}

/** What a resolver answers: a source to serve, or an HTTP refusal. */
export type Resolution = { source: ByteSource } | { status: 403 | 404 | 503; message: string };

/** Maps a request path (already parsed, query included) to what is served there. */
export type Resolver = (url: URL, request: http.IncomingMessage) => Resolution | Promise<Resolution>;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost']);

export class LoopbackServer {
  private readonly server: http.Server;
  private boundPort = 0;

  private constructor(private readonly resolve: Resolver) {
    this.server = http.createServer((request, response) => void this.handle(request, response));
    // Streams may block for a long time while bytes are fetched: no request timeout.
    this.server.requestTimeout = 0;
    this.server.headersTimeout = 30_000;
  }

  /** Starts listening on 127.0.0.1:`port` (0 = any free port). */
  static async start(resolve: Resolver, port = 0): Promise<LoopbackServer> {
    const server = new LoopbackServer(resolve);
    await new Promise<void>((done, fail) => {
      server.server.once('error', fail);
      server.server.listen(port, '127.0.0.1', () => {
        server.server.off('error', fail);
        done();
      });
    });
    server.boundPort = (server.server.address() as AddressInfo).port;
    return server;
  }

  get port(): number {
    return this.boundPort;
  }

  /** `http://127.0.0.1:<port>` */
  get origin(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  /** Stops listening and ends every open response. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    response.setHeader('Cache-Control', 'no-store');
    response.setHeader('X-Content-Type-Options', 'nosniff');
    try {
      const refusal = this.guard(request);
      if (refusal) return refuse(response, refusal.status, refusal.message);
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.setHeader('Allow', 'GET, HEAD');
        return refuse(response, 405, 'only GET and HEAD');
      }
      const url = new URL(request.url ?? '/', this.origin);
      const resolution = await this.resolve(url, request);
      if (!('source' in resolution)) return refuse(response, resolution.status, resolution.message);
      await this.serve(request, response, resolution.source);
    } catch (error) {
      if (!response.headersSent) refuse(response, 502, (error as Error).message);
      else response.destroy();
    }
  }

  private guard(request: http.IncomingMessage): { status: number; message: string } | undefined {
    const peer = request.socket.remoteAddress ?? '';
    if (!(peer.startsWith('127.') || peer === '::1' || peer.startsWith('::ffff:127.'))) return { status: 403, message: 'loopback only' };
    const host = request.headers.host ?? '';
    const match = /^(.*?)(?::(\d+))?$/.exec(host.toLowerCase());
    if (!match || !LOOPBACK_HOSTS.has(match[1]) || (match[2] !== undefined && Number(match[2]) !== this.boundPort)) {
      return { status: 421, message: 'this server answers only to 127.0.0.1 and localhost' };
    }
    const site = request.headers['sec-fetch-site'];
    if ((site !== undefined && site !== 'none' && site !== 'same-origin') || request.headers.origin !== undefined) {
      return { status: 403, message: 'cross-site requests are refused' };
    }
    return undefined;
  }

  private async serve(request: http.IncomingMessage, response: http.ServerResponse, source: ByteSource): Promise<void> {
    const size = await source.size();
    const range = parseByteRange(typeof request.headers.range === 'string' ? request.headers.range : undefined, size);
    response.setHeader('Accept-Ranges', 'bytes');
    response.setHeader('Content-Type', 'application/octet-stream');
    response.setHeader('Content-Disposition', `attachment; filename*=UTF-8''${encodeURIComponent(source.name)}`);
    if (range.kind === 'unsatisfiable') {
      response.setHeader('Content-Range', `bytes */${size}`);
      return refuse(response, 416, `the file has ${size} bytes`);
    }
    const start = range.kind === 'range' ? range.start : 0;
    const end = range.kind === 'range' ? range.end : size;
    response.statusCode = range.kind === 'range' ? 206 : 200;
    if (range.kind === 'range') response.setHeader('Content-Range', `bytes ${start}-${end - 1}/${size}`);
    response.setHeader('Content-Length', String(end - start));
    if (request.method === 'HEAD' || end === start) {
      response.end();
      return;
    }
    response.flushHeaders();
    const body = source.open(start, end);
    await new Promise<void>((resolve) => {
      // A failed stream (the job failed, the final check did not pass) cuts the response short:
      // the client sees fewer bytes than Content-Length promised, never a complete wrong body.
      pipeline(body, response, () => resolve());
    });
  }
}

function refuse(response: http.ServerResponse, status: number, message: string): void {
  response.statusCode = status;
  response.setHeader('Content-Type', 'text/plain; charset=utf-8');
  response.end(`${message}\n`);
}
