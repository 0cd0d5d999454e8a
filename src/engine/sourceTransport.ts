/**
 * The seam between the engine and the wire: probes, segments, spot checks, audits and repairs ask
 * a `SourceTransport` for bytes [start, end] of a URL and get a validated, length-capped body. The
 * protocol is chosen per URL scheme, so HTTP and FTP mirrors of one file serve one job side by side.
 */
import type { Readable } from 'node:stream';
import type { FtpTransport } from './ftp/ftpTransport';
import { TransportError, type HttpTransport, type Route } from './httpTransport';

/** A response body: a stream of at most the requested bytes. */
export interface RangeBody extends Readable {
  /** Ends the body we are done with, releasing its connection for reuse when possible. */
  dump(options?: { limit?: number }): Promise<void>;
}

/** What a ranged read may be asked to check; the route (proxy, local address) applies to HTTP only. */
export interface RangeRequestOptions extends Route {
  signal?: AbortSignal;
  /** At start 0, the whole body is acceptable (a source without ranged reads answers so). */
  allowWhole?: boolean;
  /** Strong validator the copy must still have (HTTP ETag). */
  ifMatch?: string;
  /** The size the copy must still have. */
  expectedTotal?: number;
  /** A source that serves a compressed copy on purpose may label it so (HTTP only; decoded by an adapter). */
  allowEncoding?: 'gzip';
}

/** A validated ranged response. */
export interface SourceResponse {
  /** 206: exactly the requested range follows; 200: the whole file from byte 0 (no ranged reads). */
  status: number;
  /** The file size the source states, when it states a usable one. */
  totalSize?: number;
  /** Protocol metadata in HTTP header form (`last-modified`, `etag`, `link`, digests). */
  headers: Record<string, string | string[] | undefined>;
  body: RangeBody;
  /** The URL that finally answered (after redirects). */
  finalUrl: string;
  /** Milliseconds from sending the request to the first response. */
  headersMs: number;
  /**
   * Set when the source's size statement was missing or unusable (an FTP `213 abc`): the caller
   * may take the size from a trusted manifest or the reference instead.
   */
  unstatedSizeReason?: string;
}

/** Ranged reads over one protocol. */
export interface SourceTransport {
  /**
   * Reads bytes [start, endInclusive] of `url` (`endInclusive` undefined: to the end). Resolves
   * only with a body that carries exactly those bytes at most; throws a TransportError otherwise.
   */
  getRange(url: string, start: number, endInclusive: number | undefined, opts?: RangeRequestOptions): Promise<SourceResponse>;
  /** Closes every connection. */
  close(): Promise<void>;
}

/**
 * Picks the transport for each URL by its scheme: http(s) → HttpTransport, ftp(s) → FtpTransport.
 * The FTP side is built on first use: a job with only HTTP sources never loads the FTP client.
 */
export class TransportByScheme implements SourceTransport {
  private ftpTransport?: FtpTransport;

  constructor(private readonly http: HttpTransport, private readonly createFtp: () => FtpTransport) {}

  getRange(url: string, start: number, endInclusive: number | undefined, opts: RangeRequestOptions = {}): Promise<SourceResponse> {
    return this.transportFor(url).getRange(url, start, endInclusive, opts);
  }

  /**
   * Most parallel connections worth opening to the source at `url`: FTP servers often cap
   * sessions per client address, HTTP pools have no cap of their own beyond the job's.
   */
  connectionLimit(url: string): number {
    return isFtpUrl(url) ? this.ftp.sessionsPerServer : Number.POSITIVE_INFINITY;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.http.close(), this.ftpTransport?.close()]);
  }

  private get ftp(): FtpTransport {
    this.ftpTransport ??= this.createFtp();
    return this.ftpTransport;
  }

  private transportFor(url: string): SourceTransport {
    if (isFtpUrl(url)) return this.ftp;
    if (/^https?:/i.test(url)) return this.http;
    return { getRange: () => Promise.reject(new TransportError('permanent', `unsupported URL scheme in ${url.split(':')[0]}:`)), close: async () => undefined };
  }
}

/** True for `ftp://` and `ftps://` URLs. */
export function isFtpUrl(url: string): boolean {
  return /^ftps?:/i.test(url);
}
