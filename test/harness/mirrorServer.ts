/**
 * A programmable loopback HTTP mirror: serves one artifact (a Buffer or a file) with HEAD, GET and
 * single byte ranges, and misbehaves on request (bandwidth caps, latency, stalls, resets,
 * truncation, corruption, ignored or wrong ranges, scripted statuses, redirects, dying).
 * Every request is logged so tests can assert what the client asked for and what it got.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parseRange } from './httpRange';
import { TokenBucket } from './tokenBucket';

/**
 * When a byte-count fault fires. A number means "after this many body bytes of every request".
 * With `scope: 'total'` it fires once the mirror's bytes across all requests reach `afterBytes`
 * (and then at byte 0 of every later request). `times` limits how many requests it hits.
 */
export type ByteTrigger = number | { afterBytes: number; scope?: 'request' | 'total'; times?: number };

/** A canned response consumed, one per request, before normal serving. */
export interface ScriptedResponse {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** How many consecutive requests get this response (default 1). */
  times?: number;
}

/**
 * How a 206 lies about its Content-Range (the body is still the requested bytes):
 * 'shifted' claims `start+1`-`end+1`; 'malformed' sends `bytes bad`; 'missing' omits the header;
 * 'wrong-total' claims a total of size + 1.
 */
export type WrongContentRange = 'shifted' | 'malformed' | 'missing' | 'wrong-total';

/** How a logged request ended. */
export type RequestOutcome = 'complete' | 'aborted' | 'stalled' | 'reset' | 'truncated' | 'scripted' | 'redirected' | 'hook' | 'rejected';

/** One request as the mirror saw it; updated live while the response is in flight. */
export interface MirrorRequest {
  method: string;
  url: string;
  /** The raw `Range` header, if any. */
  range?: string;
  headers: http.IncomingHttpHeaders;
  /** Response status; 0 until the headers are written. */
  status: number;
  /** Body bytes written for this request. */
  bytesSent: number;
  /** `Date.now()` when the request arrived. */
  startedAt: number;
  endedAt?: number;
  outcome?: RequestOutcome;
}

/** What an `onRequest` hook gets besides the request and response. */
export interface RequestContext {
  mirror: Mirror;
  entry: MirrorRequest;
}

export interface MirrorOptions {
  /** The artifact. Give exactly one of `body` and `file`. */
  body?: Buffer;
  /** Path of a file to serve instead of `body` (read per chunk; suits artifacts too big for memory). */
  file?: string;
  /** Interface to listen on (default '127.0.0.1'; any of 127.0.0.0/8 or '::1' works on loopback). */
  host?: string;
  /** Port (default 0 = any free port). */
  port?: number;
  /** Serve only this path (other paths get 404); default: any path. Also the path of `mirror.url`. */
  path?: string;
  /** Strong ETag to send, quoted (default derived from the content; null = none). */
  etag?: string | null;
  /** Last-Modified (default 2024-01-01T00:00:00Z so mirrors of the same bytes agree; null = none). */
  lastModified?: Date | string | null;
  /** Send `Accept-Ranges: bytes` (default true). Ranges are honoured either way unless `ignoreRange`. */
  acceptRanges?: boolean;
  /** Extra or overriding response headers on normal responses (Link, Digest, Content-Disposition…). */
  headers?: Record<string, string | string[]>;
  /** Aggregate cap shared by all connections of this mirror (token bucket, ~10 ms granularity). */
  bytesPerSecond?: number;
  /** Delay before the response headers of every request. */
  latencyMs?: number;
  /** Stop sending body bytes but keep the socket open and silent. */
  stallAfterBytes?: ByteTrigger;
  /** Reset the TCP connection (RST) after the bytes. */
  resetAfterBytes?: ByteTrigger;
  /** Close the connection cleanly although Content-Length promised more. */
  truncateAfterBytes?: ByteTrigger;
  /** Flip (XOR 0xff) the bytes at these absolute offsets, and/or the last byte of every `everyBytes` block, whenever served. */
  corrupt?: { offsets?: number[]; everyBytes?: number };
  /** Answer every GET with 200 and the full body, whatever the Range header says. */
  ignoreRange?: boolean;
  /** Make 206 responses carry a wrong Content-Range (true = 'shifted'). */
  wrongContentRange?: boolean | WrongContentRange;
  /** Canned responses consumed per request before normal serving (e.g. 503 + Retry-After, twice). */
  statusScript?: ScriptedResponse[];
  /** Stop listening and destroy every socket this many ms after start (as `kill()` does). */
  dieAfterMs?: number;
  /** Redirect every request (or those the function picks) to this Location. */
  redirectTo?: string | ((req: http.IncomingMessage) => string | undefined);
  /** Status for `redirectTo` (default 302). */
  redirectStatus?: number;
  /** Runs first for every request; return true when it has handled the response itself. */
  onRequest?: (req: http.IncomingMessage, res: http.ServerResponse, context: RequestContext) => boolean | Promise<boolean>;
}

export interface Mirror {
  /** URL of the artifact, e.g. `http://127.0.0.1:41234/artifact.bin`. */
  readonly url: string;
  /** `http://host:port`. */
  readonly origin: string;
  readonly host: string;
  readonly port: number;
  /** Size of the artifact in bytes. */
  readonly size: number;
  /** The options in force; change them with `update()`. */
  readonly options: Readonly<MirrorOptions>;
  /** Every request received, in arrival order. */
  readonly requests: MirrorRequest[];
  /** Body bytes written across all requests. */
  readonly bytesServed: number;
  /** TCP connections accepted so far, open now, and the most open at once. */
  readonly socketsAccepted: number;
  readonly openSockets: number;
  readonly peakOpenSockets: number;
  /** False after `kill()`, `dieAfterMs` or `close()`. */
  readonly alive: boolean;
  /** URL of another path on this mirror. */
  urlFor(path: string): string;
  /** Changes options for requests and chunks from now on (a new cap applies to transfers in flight). */
  update(patch: Partial<MirrorOptions>): void;
  /** Simulates the mirror dying: stops accepting and destroys every socket at once. */
  kill(): void;
  /** Kills the mirror and releases its resources. */
  close(): Promise<void>;
}

const DEFAULT_PATH = '/artifact.bin';
const DEFAULT_LAST_MODIFIED = new Date(Date.UTC(2024, 0, 1));
/** Body write size when uncapped; capped writes are the token bucket's grants. */
const CHUNK_BYTES = 256 * 1024;
/** Time for the last bytes before a reset to reach a reading client over loopback. */
const RESET_GRACE_MS = 50;
/** Bytes hashed from each end of the artifact for the default ETag. */
const ETAG_SAMPLE_BYTES = 64 * 1024;

type FaultKind = 'stall' | 'reset' | 'truncate';
const FAULT_OPTION: Record<FaultKind, 'stallAfterBytes' | 'resetAfterBytes' | 'truncateAfterBytes'> = {
  stall: 'stallAfterBytes',
  reset: 'resetAfterBytes',
  truncate: 'truncateAfterBytes',
};

/** Random-access reads of the artifact. */
interface BodySource {
  size: number;
  read(start: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

function bufferSource(body: Buffer): BodySource {
  return {
    size: body.length,
    read: async (start, length) => body.subarray(start, start + length),
    close: async () => undefined,
  };
}

async function fileSource(path: string): Promise<BodySource> {
  const handle = await fsp.open(path, 'r');
  const { size } = await handle.stat();
  return {
    size,
    read: async (start, length) => {
      const chunk = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(chunk, 0, length, start);
      return chunk.subarray(0, bytesRead);
    },
    close: () => handle.close(),
  };
}

/** Same bytes give the same ETag on every mirror; a sample keeps it cheap for huge artifacts. */
async function defaultEtag(source: BodySource): Promise<string> {
  const head = await source.read(0, Math.min(ETAG_SAMPLE_BYTES, source.size));
  const tailStart = Math.max(0, source.size - ETAG_SAMPLE_BYTES);
  const tail = await source.read(tailStart, source.size - tailStart);
  const digest = createHash('sha256').update(String(source.size)).update(head).update(tail).digest('hex');
  return `"${digest.slice(0, 16)}"`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when the response's connection is gone (client gave up, or the mirror was killed). */
function whenClosed(res: http.ServerResponse): Promise<void> {
  return res.closed ? Promise.resolve() : new Promise((resolve) => res.once('close', () => resolve()));
}

/** Resolves true after 'drain', false if the connection closes first. */
function whenDrained(res: http.ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const onDrain = () => finish(true);
    const onClose = () => finish(false);
    const finish = (drained: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(drained);
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

/** Resolves once everything written so far has left the socket's user-space buffer. */
async function whenFlushed(socket: Socket): Promise<void> {
  while (socket.writableLength > 0 && !socket.destroyed) {
    await new Promise((resolve) => {
      socket.once('drain', resolve);
      socket.once('close', resolve);
    });
  }
}

function normalizeTrigger(trigger: ByteTrigger): { afterBytes: number; scope: 'request' | 'total'; times: number } {
  if (typeof trigger === 'number') return { afterBytes: trigger, scope: 'request', times: Infinity };
  return { afterBytes: trigger.afterBytes, scope: trigger.scope ?? 'request', times: trigger.times ?? Infinity };
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

class MirrorServer implements Mirror {
  readonly requests: MirrorRequest[] = [];
  bytesServed = 0;
  socketsAccepted = 0;
  peakOpenSockets = 0;
  alive = true;
  port = 0;

  private readonly sockets = new Set<Socket>();
  private readonly server: http.Server;
  private bucket: TokenBucket | undefined;
  private dieTimer: NodeJS.Timeout | undefined;
  private scriptIndex = 0;
  private scriptUsed = 0;
  private readonly faultsFired: Record<FaultKind, number> = { stall: 0, reset: 0, truncate: 0 };
  private sortedCorruptOffsets: number[] = [];
  private closing: Promise<void> | undefined;

  constructor(
    public options: MirrorOptions,
    private readonly source: BodySource,
    private readonly etag: string | null,
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch(() => res.destroy());
    });
    this.server.on('connection', (socket: Socket) => {
      this.socketsAccepted++;
      this.sockets.add(socket);
      this.peakOpenSockets = Math.max(this.peakOpenSockets, this.sockets.size);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.applyDerivedOptions(options);
  }

  get host(): string {
    return this.options.host ?? '127.0.0.1';
  }
  get origin(): string {
    return `http://${formatHost(this.host)}:${this.port}`;
  }
  get url(): string {
    return this.urlFor(this.options.path ?? DEFAULT_PATH);
  }
  get size(): number {
    return this.source.size;
  }
  get openSockets(): number {
    return this.sockets.size;
  }

  urlFor(path: string): string {
    return `${this.origin}${path.startsWith('/') ? path : `/${path}`}`;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    if (this.options.dieAfterMs !== undefined) this.dieTimer = setTimeout(() => this.kill(), this.options.dieAfterMs);
  }

  update(patch: Partial<MirrorOptions>): void {
    this.options = { ...this.options, ...patch };
    for (const kind of Object.keys(FAULT_OPTION) as FaultKind[]) {
      if (FAULT_OPTION[kind] in patch) this.faultsFired[kind] = 0;
    }
    if ('statusScript' in patch) this.scriptIndex = this.scriptUsed = 0;
    this.applyDerivedOptions(patch);
  }

  kill(): void {
    if (!this.alive) return;
    this.alive = false;
    clearTimeout(this.dieTimer);
    this.bucket?.close();
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((resolve) => (this.server.listening ? this.server.once('close', () => resolve()) : resolve()));
      this.kill();
      await closed;
      await this.source.close();
    })();
    return this.closing;
  }

  private applyDerivedOptions(patch: Partial<MirrorOptions>): void {
    if ('bytesPerSecond' in patch) {
      const rate = patch.bytesPerSecond ?? 0;
      if (rate > 0 && this.bucket) this.bucket.setRate(rate);
      else if (rate > 0) this.bucket = new TokenBucket(rate);
      else {
        this.bucket?.close();
        this.bucket = undefined;
      }
    }
    if ('corrupt' in patch) this.sortedCorruptOffsets = [...(patch.corrupt?.offsets ?? [])].sort((a, b) => a - b);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const entry: MirrorRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      range: req.headers.range,
      headers: req.headers,
      status: 0,
      bytesSent: 0,
      startedAt: Date.now(),
    };
    this.requests.push(entry);
    res.once('close', () => {
      entry.endedAt = Date.now();
      if (res.headersSent) entry.status = res.statusCode;
      entry.outcome ??= res.writableFinished ? 'complete' : 'aborted';
    });
    const options = this.options;

    if (options.onRequest) {
      // Marked before the call: a hook that answers synchronously may close the response first.
      entry.outcome = 'hook';
      if (await options.onRequest(req, res, { mirror: this, entry })) return;
      entry.outcome = undefined;
    }
    if (options.latencyMs) {
      await delay(options.latencyMs);
      if (res.closed) return;
    }

    const scripted = this.nextScriptedResponse();
    if (scripted) {
      const body = scripted.body ?? '';
      entry.outcome = 'scripted';
      this.writeHead(res, entry, scripted.status, { 'Content-Length': String(Buffer.byteLength(body)), ...scripted.headers });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }

    const location = typeof options.redirectTo === 'function' ? options.redirectTo(req) : options.redirectTo;
    if (location !== undefined) {
      entry.outcome = 'redirected';
      this.writeHead(res, entry, options.redirectStatus ?? 302, { Location: location, 'Content-Length': '0' });
      res.end();
      return;
    }

    const pathname = new URL(req.url ?? '/', 'http://mirror').pathname;
    if (options.path !== undefined && pathname !== options.path) return this.reject(res, entry, 404, {});
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.reject(res, entry, 405, { Allow: 'GET, HEAD' });

    const size = this.source.size;
    const range = options.ignoreRange || !this.ifRangeMatches(req) ? { kind: 'full' as const } : parseRange(req.headers.range, size);
    if (range.kind === 'unsatisfiable') return this.reject(res, entry, 416, { 'Content-Range': `bytes */${size}` });

    const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, size - 1];
    const headers = this.representationHeaders();
    headers['Content-Length'] = String(end - start + 1);
    if (range.kind === 'partial') {
      const contentRange = this.contentRange(start, end, size);
      if (contentRange !== undefined) headers['Content-Range'] = contentRange;
    }
    this.writeHead(res, entry, range.kind === 'partial' ? 206 : 200, { ...headers, ...options.headers });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await this.sendBody(res, entry, start, end + 1);
  }

  private writeHead(res: http.ServerResponse, entry: MirrorRequest, status: number, headers: Record<string, string | string[]>): void {
    entry.status = status;
    res.writeHead(status, headers);
  }

  private reject(res: http.ServerResponse, entry: MirrorRequest, status: number, headers: Record<string, string>): void {
    entry.outcome = 'rejected';
    this.writeHead(res, entry, status, { ...headers, 'Content-Length': '0' });
    res.end();
  }

  private representationHeaders(): Record<string, string> {
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
    if (this.options.acceptRanges !== false) headers['Accept-Ranges'] = 'bytes';
    const etag = this.options.etag === undefined ? this.etag : this.options.etag;
    if (etag) headers.ETag = etag;
    const lastModified = this.lastModified();
    if (lastModified) headers['Last-Modified'] = lastModified;
    return headers;
  }

  private lastModified(): string | undefined {
    const value = this.options.lastModified === undefined ? DEFAULT_LAST_MODIFIED : this.options.lastModified;
    if (value === null) return undefined;
    return typeof value === 'string' ? value : value.toUTCString();
  }

  /** RFC 9110 §13.1.5: a Range with a stale If-Range validator gets the whole representation. */
  private ifRangeMatches(req: http.IncomingMessage): boolean {
    const header = req.headers['if-range'];
    const ifRange = Array.isArray(header) ? header[0] : header;
    if (ifRange === undefined) return true;
    if (ifRange.startsWith('"') || ifRange.startsWith('W/')) {
      const etag = this.options.etag === undefined ? this.etag : this.options.etag;
      return ifRange === etag;
    }
    return ifRange === this.lastModified();
  }

  private contentRange(start: number, end: number, size: number): string | undefined {
    const lie = this.options.wrongContentRange === true ? 'shifted' : this.options.wrongContentRange || undefined;
    switch (lie) {
      case 'shifted':
        return `bytes ${start + 1}-${end + 1}/${size}`;
      case 'malformed':
        return 'bytes bad';
      case 'missing':
        return undefined;
      case 'wrong-total':
        return `bytes ${start}-${end}/${size + 1}`;
      default:
        return `bytes ${start}-${end}/${size}`;
    }
  }

  private nextScriptedResponse(): ScriptedResponse | undefined {
    const script = this.options.statusScript ?? [];
    const current = script[this.scriptIndex];
    if (!current) return undefined;
    if (++this.scriptUsed >= (current.times ?? 1)) {
      this.scriptIndex++;
      this.scriptUsed = 0;
    }
    return current;
  }

  /** The fault that fires first for this request, and how many more bytes may go before it. */
  private nextFault(entry: MirrorRequest): { kind: FaultKind; allowance: number } | undefined {
    let next: { kind: FaultKind; allowance: number } | undefined;
    for (const kind of Object.keys(FAULT_OPTION) as FaultKind[]) {
      const trigger = this.options[FAULT_OPTION[kind]];
      if (trigger === undefined) continue;
      const { afterBytes, scope, times } = normalizeTrigger(trigger);
      if (this.faultsFired[kind] >= times) continue;
      const allowance = Math.max(0, afterBytes - (scope === 'total' ? this.bytesServed : entry.bytesSent));
      if (!next || allowance < next.allowance) next = { kind, allowance };
    }
    return next;
  }

  private async sendBody(res: http.ServerResponse, entry: MirrorRequest, start: number, endExclusive: number): Promise<void> {
    let position = start;
    while (position < endExclusive) {
      if (res.destroyed) return;
      const fault = this.nextFault(entry);
      if (fault && fault.allowance === 0) return this.fireFault(fault.kind, res, entry);
      let length = Math.min(endExclusive - position, CHUNK_BYTES, fault?.allowance ?? Infinity);
      if (this.bucket) {
        length = await this.bucket.take(length);
        if (length === 0 || res.destroyed) return;
        // Other requests may have moved a 'total' trigger while this one waited for tokens.
        length = Math.min(length, this.nextFault(entry)?.allowance ?? Infinity);
        if (length === 0) continue;
      }
      const chunk = this.corrupted(await this.source.read(position, length), position);
      if (res.destroyed) return;
      entry.bytesSent += chunk.length;
      this.bytesServed += chunk.length;
      position += chunk.length;
      if (!res.write(chunk) && !(await whenDrained(res))) return;
    }
    res.end();
  }

  private async fireFault(kind: FaultKind, res: http.ServerResponse, entry: MirrorRequest): Promise<void> {
    this.faultsFired[kind]++;
    const socket = res.socket;
    if (!socket) return;
    switch (kind) {
      case 'stall':
        // Keep the connection open and silent until the client gives up or the mirror closes.
        entry.outcome = 'stalled';
        await whenClosed(res);
        return;
      case 'reset':
        entry.outcome = 'reset';
        // An RST discards whatever the kernel still queues, so flush and give the client a moment
        // to read: it should see exactly N bytes, then the reset.
        await whenFlushed(socket);
        await delay(RESET_GRACE_MS);
        socket.resetAndDestroy();
        return;
      case 'truncate':
        entry.outcome = 'truncated';
        socket.end();
        return;
    }
  }

  /** Returns the chunk with the configured offsets flipped (copied first: the source may be shared). */
  private corrupted(chunk: Buffer, position: number): Buffer {
    const { everyBytes } = this.options.corrupt ?? {};
    const end = position + chunk.length;
    const flips: number[] = [];
    for (let i = lowerBound(this.sortedCorruptOffsets, position); i < this.sortedCorruptOffsets.length; i++) {
      const offset = this.sortedCorruptOffsets[i];
      if (offset >= end) break;
      flips.push(offset);
    }
    if (everyBytes && everyBytes > 0) {
      for (let offset = Math.ceil((position + 1) / everyBytes) * everyBytes - 1; offset < end; offset += everyBytes) flips.push(offset);
    }
    if (flips.length === 0) return chunk;
    const copy = Buffer.from(chunk);
    for (const offset of flips) copy[offset - position] ^= 0xff;
    return copy;
  }
}

/** First index whose value is >= target in an ascending array. */
function lowerBound(sorted: number[], target: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] < target) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Starts a mirror on loopback (127.0.0.1, port 0 unless told otherwise) and resolves once it
 * listens. Close it with `mirror.close()` in an `afterEach`.
 */
export async function startMirror(options: MirrorOptions): Promise<Mirror> {
  if ((options.body === undefined) === (options.file === undefined)) throw new TypeError('startMirror: give exactly one of body and file');
  const source = options.body !== undefined ? bufferSource(options.body) : await fileSource(options.file!);
  const etag = options.etag === undefined ? await defaultEtag(source) : options.etag;
  const mirror = new MirrorServer({ ...options }, source, etag);
  try {
    await mirror.listen();
  } catch (error) {
    await source.close();
    throw error;
  }
  return mirror;
}
