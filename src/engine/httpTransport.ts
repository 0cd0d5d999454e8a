/**
 * The only place that talks HTTP. Every response is validated here before a single byte reaches
 * the caller: status, Content-Range matching exactly what was asked, no content encoding, a hard
 * cap on body length. Redirects are followed by hand so that credentials stay bound to their
 * exact origin and an HTTPS job is never downgraded to cleartext.
 */
import type { Dispatcher } from 'undici';
import { buildConnector, Client, Pool, ProxyAgent, requestOn } from './undiciParts';
import { ReceiveBuffers, TCP_MAX_SLOT_BYTES, TCP_SLOT_BYTES, TLS_SLOT_BYTES } from './receiveBuffers';
import { ConnectionBudget, type ConnectionLease } from './connectionBudget';
import type { RangeRequestOptions } from './sourceTransport';
import { parseRetryAfter } from './retryPolicy';
import { redactUrl } from './security/redaction';

/** Why a request failed, in the terms the scheduler acts on. */
export type TransportFailureKind =
  /** Retry later on this source (5xx, 429, 408, resets, timeouts). */
  | 'transient'
  /** Never ask this source again for this file (404, 410, 401, 403, bad redirects). */
  | 'permanent'
  /** The source answered in a way that breaks the protocol (wrong Content-Range, 200 to a range). */
  | 'protocol'
  /** The source ignores Range requests (answered 200 with the whole body). */
  | 'no-range'
  /** The source's copy changed (validator mismatch, different size). */
  | 'changed'
  /** We aborted it ourselves. */
  | 'aborted';

/** A failed request with the facts the scheduler needs. */
export class TransportError extends Error {
  constructor(
    readonly kind: TransportFailureKind,
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
    /** For a 416 with `Content-Range: bytes *\/N`: the size the server states. */
    readonly unsatisfiedTotal?: number,
    readonly headers?: Record<string, string | string[] | undefined>,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

export interface TransportOptions {
  /** Extra CA certificates for TLS. */
  ca?: string | string[];
  /** Headers per exact origin (`https://host:port`), e.g. Authorization. */
  originHeaders?: Record<string, Record<string, string>>;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  /** Connections per origin per route. */
  connectionsPerOrigin?: number;
  /** Connections open at once across every route (default: no cap). See connectionBudget.ts. */
  maxConnections?: number;
  /**
   * The slots direct connections read into (receiveBuffers.ts); whoever consumes the bodies hands
   * them back. The transport makes its own when none are given.
   */
  receiveBuffers?: ReceiveBuffers;
}

/** A validated ranged response whose body yields exactly the requested bytes at most. */
export interface RangeResponse {
  status: number;
  /** Total size from Content-Range (206) or Content-Length (200). */
  totalSize?: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** The URL that finally answered (after redirects). */
  finalUrl: string;
  /** Milliseconds from sending the request to the response headers. */
  headersMs: number;
}

/** The way requests to a source travel: through an HTTP(S) proxy and/or from a local address. */
export interface Route {
  /** HTTP or HTTPS proxy URL (CONNECT tunnels). */
  proxy?: string;
  /** Local IP address the sockets bind to (picks the interface, e.g. a second uplink). */
  localAddress?: string;
}

const MAX_REDIRECTS = 8;
const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

/** Parses `Content-Range: bytes a-b/total`; undefined when malformed. */
export function parseContentRange(value: string | string[] | undefined): { start: number; end: number; total?: number } | undefined {
  if (typeof value !== 'string') return undefined;
  const match = CONTENT_RANGE.exec(value.trim());
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  const total = match[3] === '*' ? undefined : Number(match[3]);
  if (end < start || (total !== undefined && end >= total)) return undefined;
  return { start, end, total };
}

/**
 * Drops a body we will not read. undici reports the destroy as an 'error' event (aborted): without
 * a listener that would be an uncaught exception, so one is attached first.
 */
export function discardBody(body: { on(event: 'error', listener: () => void): unknown; destroy(): unknown }): void {
  body.on('error', () => undefined);
  body.destroy();
}

/**
 * Ends a body we are done with so its keep-alive socket goes back to the pool: the rest (normally
 * nothing: we ask for exact ranges) is drained up to a small limit, beyond which it is destroyed.
 * Destroying instead would close the socket and cost a new connection (and TLS handshake).
 * Resolves true when the body reached its end (no more of its bytes can come).
 */
export async function finishBody(body: {
  dump(options?: { limit?: number }): Promise<void>;
  on(event: 'error', listener: () => void): unknown;
  readonly readableEnded?: boolean;
}): Promise<boolean> {
  body.on('error', () => undefined);
  await body.dump({ limit: 256 * 1024 }).catch(() => undefined);
  return body.readableEnded === true;
}

/** `scheme://host:port` of a URL, with the default port made explicit. */
export function originOf(url: string): string {
  const parsed = new URL(url);
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
  return `${parsed.protocol}//${parsed.hostname}:${port}`;
}

/**
 * Performs validated requests over counted connections: one undici Client (one keep-alive socket)
 * per connection of the budget, per route (origin, or proxy and origin). Every request borrows a
 * connection until its body is over, so the job never has more sockets open than its cap.
 */
export class HttpTransport {
  private readonly originHeaders = new Map<string, Record<string, string>>();
  private readonly budget: ConnectionBudget<Dispatcher>;
  /** Where each route leads, for opening its connections. */
  private readonly routes = new Map<string, { origin: string } & Route>();
  /** The read slots of direct connections. */
  private readonly receiveBuffers: ReceiveBuffers;

  constructor(private readonly options: TransportOptions = {}) {
    this.receiveBuffers = options.receiveBuffers ?? new ReceiveBuffers();
    for (const [origin, headers] of Object.entries(options.originHeaders ?? {})) {
      this.originHeaders.set(originOf(origin), headers);
    }
    this.budget = new ConnectionBudget<Dispatcher>(options.maxConnections ?? Infinity, options.connectionsPerOrigin ?? 16, {
      open: (route) => this.openConnection(this.routes.get(route)!),
      close: (connection) => connection.destroy().catch(() => undefined),
    });
  }

  /** Connections open now (busy or idle), the most open at once, and the cap. */
  get connections(): { open: number; peak: number; limit: number } {
    return { open: this.budget.open, peak: this.budget.peak, limit: this.budget.limit };
  }

  /**
   * One connection of a route: a Client holds at most one socket (pipelining 1), reconnecting when
   * it idled out. A route is the origin plus the proxy and/or the local address to bind, so the
   * same origin over two routes gets separate sockets and measurements.
   */
  private openConnection(route: { origin: string } & Route): Dispatcher {
    const { localAddress, proxy } = route;
    const connect = { timeout: this.options.connectTimeoutMs ?? 10_000, ca: this.options.ca };
    const common = {
      keepAliveTimeout: 4_000,
      headersTimeout: this.options.headersTimeoutMs ?? 15_000,
      bodyTimeout: this.options.bodyTimeoutMs ?? 30_000,
      connect,
    };
    // undici's connector lets the client's `localAddress` override `connect.localAddress`, so the
    // address is a client option; through a proxy it binds the socket to the proxy.
    return proxy
      ? new ProxyAgent({
          uri: proxy,
          ...common,
          connections: 1,
          requestTls: { ca: this.options.ca },
          proxyTls: { ca: this.options.ca },
          ...(localAddress ? { clientFactory: (origin: URL, options: object) => new Pool(origin, { ...options, connections: 1, localAddress }) } : {}),
        })
      : new Client(route.origin, { ...common, connect: this.pooledConnector(route.origin, connect), ...(localAddress ? { localAddress } : {}) });
  }

  /**
   * undici's own connector, with the sockets it opens reading into pool slots (Node's `onread`
   * option, which undici passes through to net/tls.connect). The option holds the socket's next
   * slot, so it must not serve two sockets at once: a Client has one socket at a time.
   * Connections through a proxy keep Node's default reads.
   */
  private pooledConnector(origin: string, options: { timeout: number; ca?: string | string[] }): ReturnType<typeof buildConnector> {
    // TLS hands over one record (≤ 16 KiB) per read, so its slots never need to grow.
    const onread = origin.startsWith('https:')
      ? this.receiveBuffers.socketReadOption(TLS_SLOT_BYTES)
      : this.receiveBuffers.socketReadOption(TCP_SLOT_BYTES, TCP_MAX_SLOT_BYTES);
    return buildConnector({ ...options, onread } as Parameters<typeof buildConnector>[0]);
  }

  /**
   * GETs bytes [start, endInclusive] of `url`. Resolves only with a response that carries exactly
   * those bytes (206 with a matching Content-Range), or — when `allowWhole` and start is 0 — a 200
   * with the whole body. Anything else throws a TransportError and the body is destroyed unread.
   * `endInclusive` undefined asks for `bytes=start-`.
   */
  async getRange(
    url: string,
    start: number,
    endInclusive: number | undefined,
    opts: RangeRequestOptions = {},
  ): Promise<RangeResponse> {
    const startedOnHttps = new URL(url).protocol === 'https:';
    let current = url;
    const visited = [url];
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const parsed = new URL(current);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        throw new TransportError('permanent', `unsupported URL scheme ${parsed.protocol}`);
      }
      if (startedOnHttps && parsed.protocol === 'http:') {
        throw new TransportError('permanent', `refused a redirect from HTTPS to cleartext HTTP (${redactUrl(current)})`);
      }
      const headers: Record<string, string> = {
        'accept-encoding': 'identity',
        range: `bytes=${start}-${endInclusive ?? ''}`,
        'user-agent': 'artifact-fetch/0.1',
        // Credentials only for this exact origin; a redirect to another origin gets none.
        ...(this.originHeaders.get(originOf(current)) ?? {}),
      };
      if (opts.ifMatch) headers['if-match'] = opts.ifMatch;
      const origin = originOf(current);
      // The raw proxy URL: two routes that differ only in their proxy credentials are two routes.
      const route = `${opts.proxy ?? 'direct'} ${opts.localAddress ?? 'any'} ${origin}`;
      if (!this.routes.has(route)) this.routes.set(route, { origin, proxy: opts.proxy, localAddress: opts.localAddress });
      let lease: ConnectionLease<Dispatcher>;
      try {
        lease = await this.budget.acquire(route, opts.signal);
      } catch (error) {
        throw classifyNetworkError(error, opts.signal);
      }
      const release = (): void => lease.release();
      const sentAt = Date.now();
      let response: Dispatcher.ResponseData;
      try {
        response = await requestOn(lease.connection, current, { method: 'GET', headers, signal: opts.signal });
      } catch (error) {
        release();
        throw classifyNetworkError(error, opts.signal);
      }
      const headersMs = Date.now() - sentAt;
      const { statusCode: status, headers: responseHeaders, body } = response;
      // The lease ends with the body: read to its end (the socket is reused) or destroyed.
      body.once('end', release).once('close', release).once('error', release);
      if (status >= 300 && status < 400 && status !== 304) {
        discardBody(body);
        const location = responseHeaders.location;
        if (Array.isArray(location) && new Set(location).size > 1) {
          throw new TransportError('permanent', `redirect with conflicting Location headers from ${redactUrl(current)}`, status);
        }
        const target = Array.isArray(location) ? location[0] : location;
        if (!target) throw new TransportError('permanent', `redirect ${status} without a Location header from ${redactUrl(current)}`, status);
        current = new URL(target, current).toString();
        if (visited.includes(current)) {
          const loop = [...visited.slice(visited.indexOf(current)), current].map((u) => new URL(u).pathname).join(' → ');
          throw new TransportError('permanent', `redirect loop at ${redactUrl(url)}: ${loop}`, status);
        }
        visited.push(current);
        continue;
      }
      return this.validate(current, status, responseHeaders, body, start, endInclusive, headersMs, opts);
    }
    throw new TransportError('permanent', `too many redirects (more than ${MAX_REDIRECTS}) starting at ${redactUrl(url)}`);
  }

  private validate(
    url: string,
    status: number,
    headers: Record<string, string | string[] | undefined>,
    body: Dispatcher.ResponseData['body'],
    start: number,
    endInclusive: number | undefined,
    headersMs: number,
    opts: { allowWhole?: boolean; expectedTotal?: number; ifMatch?: string; allowEncoding?: 'gzip' },
  ): RangeResponse {
    const fail = (kind: TransportFailureKind, message: string, retryAfterMs?: number): never => {
      discardBody(body);
      throw new TransportError(kind, message, status, retryAfterMs);
    };
    const where = redactUrl(url);
    if (status === 404 || status === 410) fail('permanent', `${status} not found at ${where}`);
    if (status === 401 || status === 403) fail('permanent', `${status} access denied at ${where}`);
    if (status === 412) fail('changed', `the file changed on ${where} (412 precondition failed)`);
    if (status === 416) {
      const stated = /^bytes \*\/(\d+)$/.exec(String(headers['content-range'] ?? '').trim());
      const total = stated ? Number(stated[1]) : undefined;
      discardBody(body);
      throw new TransportError('protocol', `416 range not satisfiable at ${where}${total !== undefined ? ` (it states size ${total})` : ''}`, status, undefined, total, headers);
    }
    if (status === 408 || status === 429 || status >= 500) {
      fail('transient', `${status} from ${where}`, parseRetryAfter(headers['retry-after']));
    }
    const encoding = headers['content-encoding'];
    const encodingName = encoding === undefined ? 'identity' : String(encoding).trim().toLowerCase();
    const expectedEncoding = opts.allowEncoding === 'gzip' && (encodingName === 'gzip' || encodingName === 'x-gzip');
    if (encodingName !== 'identity' && !expectedEncoding) {
      fail('protocol', `unrequested Content-Encoding "${String(encoding).slice(0, 40)}" from ${where}`);
    }
    if (status === 200) {
      const length = Number(headers['content-length']);
      if (start === 0 && opts.allowWhole) {
        return { status, totalSize: Number.isFinite(length) ? length : undefined, headers, body, finalUrl: url, headersMs };
      }
      fail('no-range', `${where} ignores Range requests (answered 200)`);
    }
    if (status !== 206) fail('protocol', `unexpected status ${status} from ${where}`);
    const range = parseContentRange(headers['content-range']);
    if (!range) fail('protocol', `206 without a valid Content-Range from ${where}`);
    // RFC 9110 §14.1.2: an end at or past the representation's end means "to the end", so a server
    // answers a probe of 64 KiB on a 1,000-byte file with bytes 0-999/1000.
    const lastByte = range!.total !== undefined ? range!.total - 1 : undefined;
    const wantedEnd = endInclusive === undefined ? (lastByte ?? range!.end) : lastByte !== undefined ? Math.min(endInclusive, lastByte) : endInclusive;
    if (range!.start !== start || range!.end !== wantedEnd) {
      fail('protocol', `Content-Range ${range!.start}-${range!.end} does not match the requested ${start}-${wantedEnd} from ${where}`);
    }
    const etag = Array.isArray(headers.etag) ? headers.etag[0] : headers.etag;
    if (opts.ifMatch && etag && !etag.startsWith('W/') && etag !== opts.ifMatch) {
      fail('changed', `the file changed on ${where} (ETag ${etag}, expected ${opts.ifMatch})`);
    }
    if (opts.expectedTotal !== undefined && range!.total !== undefined && range!.total !== opts.expectedTotal) {
      fail('changed', `${where} now reports size ${range!.total}, expected ${opts.expectedTotal}`);
    }
    const length = headers['content-length'];
    if (length !== undefined && Number(length) !== range!.end - range!.start + 1) {
      fail('protocol', `Content-Length ${String(length)} disagrees with Content-Range from ${where}`);
    }
    return { status, totalSize: range!.total, headers, body, finalUrl: url, headersMs };
  }

  /** Closes every connection and its socket. */
  async close(): Promise<void> {
    await this.budget.closeAll();
  }
}

/** Maps a thrown network error to a TransportError. */
export function classifyNetworkError(error: unknown, signal?: AbortSignal): TransportError {
  if (error instanceof TransportError) return error;
  if (signal?.aborted) return new TransportError('aborted', 'aborted');
  const code = (error as { code?: string })?.code ?? '';
  const message = (error as Error)?.message ?? String(error);
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return new TransportError('protocol', 'response larger than requested');
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code) || /certificate/i.test(message)) {
    return new TransportError('permanent', `TLS verification failed: ${code || message}`);
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new TransportError('permanent', `host not found (${code})`);
  return new TransportError('transient', code ? `${code}: ${message}` : message);
}
