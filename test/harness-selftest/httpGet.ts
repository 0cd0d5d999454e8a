/** A bare node:http client for the harness self-tests: it records what arrived and never throws. */
import * as http from 'node:http';

export interface GetResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The error that ended the exchange early, if any ('timeout' when `timeoutMs` passed). */
  error?: string;
  /** The socket's own error code: 'ECONNRESET' after an RST; undefined after a clean close. */
  socketError?: string;
  /** ms from the request to the response headers (-1 if none came). */
  headersMs: number;
  elapsedMs: number;
}

export interface GetOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Give up (and destroy the socket) after this many ms. */
  timeoutMs?: number;
  /** A fresh connection per request, so tests that count sockets are exact. */
  agent?: http.Agent | false;
  /** Called with every body chunk as it arrives. */
  onData?: (chunk: Buffer) => void;
}

/** Sends one request and resolves with whatever came back, even after an error or a timeout. */
export function httpGet(url: string, options: GetOptions = {}): Promise<GetResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const result: GetResult = { status: 0, headers: {}, body: Buffer.alloc(0), headersMs: -1, elapsedMs: 0 };
    let settled = false;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      result.body = Buffer.concat(chunks);
      result.error = error;
      result.elapsedMs = performance.now() - started;
      resolve(result);
    };
    const request = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false }, (response) => {
      result.status = response.statusCode ?? 0;
      result.headers = response.headers;
      result.headersMs = performance.now() - started;
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        options.onData?.(chunk);
      });
      response.on('end', () => finish());
      // The socket's error (if any) arrives after 'aborted'; give it a turn so socketError is set.
      response.on('aborted', () => setImmediate(() => finish('aborted')));
      response.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
    });
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
      finish('timeout');
      request.destroy();
    }, options.timeoutMs);
    request.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
    request.on('socket', (socket) => socket.on('error', (error: NodeJS.ErrnoException) => (result.socketError ??= error.code)));
    request.end();
  });
}
