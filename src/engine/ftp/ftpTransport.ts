/**
 * FTP and FTPS (explicit TLS) sources. A ranged read asks, once per session, SIZE (the size; a
 * garbage reply such as `213 abc` is ignored, never guessed from) and MDTM (a weak validator: a
 * change between sessions means the copy changed), then `REST <start>` + `RETR`, reading exactly
 * the requested bytes (see ftpRangeRead.ts). A server that refuses REST gets no ranged work, like
 * an HTTP mirror that ignores Range. Sessions are pooled and bounded per server (ftpSessionPool.ts);
 * data connections always go to the control connection's peer (ftpPassiveMode.ts).
 */
import { Client, FTPError } from 'basic-ftp';
import { isIP } from 'node:net';
import { TransportError } from '../httpTransport';
import { redactUrl, registerSecret } from '../security/redaction';
import type { RangeRequestOptions, SourceResponse, SourceTransport } from '../sourceTransport';
import { classifyFtpFailure } from './ftpFailure';
import { parseFtpLocation, type FtpLocation } from './ftpLocation';
import { passiveModeAtControlPeer } from './ftpPassiveMode';
import { FtpRangeRead } from './ftpRangeRead';
import { FtpSessionPool, type FtpFileFacts, type FtpSession } from './ftpSessionPool';

/** Sessions per server unless told otherwise: below the per-address caps FTP servers commonly set. */
export const DEFAULT_FTP_SESSIONS_PER_SERVER = 4;

export interface FtpTransportOptions {
  /** Extra CA certificates for FTPS. */
  ca?: string | string[];
  /** Sessions at once per server and login (channels, probes and spot checks share them). */
  sessionsPerServer?: number;
  /** Control and data inactivity timeout. */
  timeoutMs?: number;
  /** Decisions worth a line in the job's log (EPSV refused, a PASV address ignored). */
  onNotice?(message: string): void;
}

/** FTP(S) ranged reads (a SourceTransport for `ftp://` and `ftps://` URLs). */
export class FtpTransport implements SourceTransport {
  readonly sessionsPerServer: number;
  private readonly pools = new Map<string, FtpSessionPool>();
  /** MDTM first seen per URL: the weak validator later sessions must still match. */
  private readonly firstModified = new Map<string, string>();

  constructor(private readonly options: FtpTransportOptions = {}) {
    this.sessionsPerServer = Math.max(1, Math.floor(options.sessionsPerServer ?? DEFAULT_FTP_SESSIONS_PER_SERVER));
  }

  async getRange(url: string, start: number, endInclusive: number | undefined, opts: RangeRequestOptions = {}): Promise<SourceResponse> {
    const location = parseFtpLocation(url);
    const where = redactUrl(url);
    const pool = this.poolFor(location);
    const sentAt = Date.now();
    let session: FtpSession;
    try {
      session = await pool.acquire(opts.signal);
    } catch (error) {
      throw classifyFtpFailure(error, where, opts.signal);
    }
    let read: FtpRangeRead | undefined;
    try {
      const facts = await this.factsFor(session, location, url, where);
      const size = facts.size;
      if (opts.expectedTotal !== undefined && size !== undefined && size !== opts.expectedTotal) {
        throw new TransportError('changed', `${where} now reports size ${size}, expected ${opts.expectedTotal}`);
      }
      if (start > 0 && size !== undefined && start >= size) {
        throw new TransportError('protocol', `asked to restart at byte ${start}, beyond the end of the ${size}-byte copy at ${where}`);
      }
      // A probe asks for a 64 KiB sample whatever the size; a smaller file is simply all of it.
      if (opts.allowWhole && start === 0 && endInclusive !== undefined && size !== undefined && endInclusive >= size) endInclusive = Math.max(0, size - 1);
      if (endInclusive !== undefined && size !== undefined && endInclusive >= size) {
        throw new TransportError('protocol', `bytes ${start}-${endInclusive} asked of the ${size}-byte copy at ${where}`);
      }
      const ranged = await this.restartsTransfers(pool, session, start, opts.allowWhole === true, where);
      if (!ranged && !(start === 0 && opts.allowWhole)) throw new TransportError('no-range', `${where} cannot restart transfers (REST refused)`);
      const length = !ranged || endInclusive === undefined ? undefined : endInclusive - start + 1;
      const endsAtEndOfFile = size !== undefined && (length === undefined || start + length === size);
      let released = false;
      read = new FtpRangeRead(session, location.path, start, length, endsAtEndOfFile, (reusable) => {
        if (released) return;
        released = true;
        pool.release(session, reusable);
      });
      await abortableStart(read, opts.signal);
      if (start > 0 && read.endedEmpty) {
        // REST was accepted but RETR sent nothing: the copy ends at or before `start`.
        throw new TransportError('protocol', `${where} sent nothing from byte ${start}: its copy ends before that (REST beyond the end)`);
      }
      abortBodyWith(read, opts.signal);
      return {
        status: ranged ? 206 : 200,
        totalSize: size,
        headers: facts.modified ? { 'last-modified': facts.modified } : {},
        body: read.body,
        finalUrl: url,
        headersMs: Date.now() - sentAt,
        unstatedSizeReason: size === undefined ? facts.sizeProblem ?? 'no SIZE reply' : undefined,
      };
    } catch (error) {
      const failure = classifyFtpFailure(error, where, opts.signal, start);
      if (read) {
        read.body.destroy();
        await read.stop();
      } else {
        // A refusal the server answered in words leaves the session usable; anything else may not.
        pool.release(session, (error instanceof FTPError || error instanceof TransportError) && !session.client.closed);
      }
      throw failure;
    }
  }

  async close(): Promise<void> {
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
  }

  private poolFor(location: FtpLocation): FtpSessionPool {
    let pool = this.pools.get(location.serverKey);
    if (!pool) {
      // The password is a secret from here on: every log line and error is scrubbed of it.
      if (location.password !== 'anonymous@') registerSecret(location.password);
      pool = new FtpSessionPool(location, this.sessionsPerServer, (at) => this.login(at));
      this.pools.set(location.serverKey, pool);
    }
    return pool;
  }

  private async login(location: FtpLocation): Promise<Client> {
    const client = new Client(this.options.timeoutMs ?? 15_000);
    const where = `${location.secure ? 'ftps' : 'ftp'}://${location.host}:${location.port}`;
    client.prepareTransfer = passiveModeAtControlPeer({
      onEpsvRefused: (reply) => this.options.onNotice?.(`${where} refused EPSV (${reply.trim().slice(0, 60)}); using PASV`),
      onPasvHostIgnored: (advertised, used) => this.options.onNotice?.(`${where} named ${advertised} for its data connection; connected to ${used}, the control peer, instead`),
    });
    try {
      await client.access({
        host: location.host,
        port: location.port,
        user: location.user,
        password: location.password,
        secure: location.secure,
        // Never a silent downgrade: ftps:// without a server that speaks TLS is an error (AUTH TLS refused).
        secureOptions: location.secure ? { ca: this.options.ca, servername: isIP(location.host) ? undefined : location.host } : undefined,
      });
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  /** SIZE and MDTM of `location.path`, asked once per session; checks MDTM against earlier sessions. */
  private async factsFor(session: FtpSession, location: FtpLocation, url: string, where: string): Promise<FtpFileFacts> {
    let facts = session.facts.get(location.path);
    if (!facts) {
      facts = {};
      const sizeReply = await session.client.sendIgnoringError(`SIZE ${location.path}`);
      const sizeText = sizeReply.message.slice(4).trim();
      if (sizeReply.code >= 400 && sizeReply.code < 500) throw new FTPError(sizeReply);
      if (sizeReply.code === 213 && /^\d{1,16}$/.test(sizeText) && Number.isSafeInteger(Number(sizeText))) facts.size = Number(sizeText);
      else facts.sizeProblem = `SIZE answered "${sizeReply.message.trim().slice(0, 40)}"`;
      const modifiedReply = await session.client.sendIgnoringError(`MDTM ${location.path}`);
      if (modifiedReply.code === 213) facts.modified = httpDateFromMdtm(modifiedReply.message.slice(4).trim());
      session.facts.set(location.path, facts);
    }
    if (facts.modified) {
      const first = this.firstModified.get(url);
      if (first === undefined) this.firstModified.set(url, facts.modified);
      else if (first !== facts.modified) throw new TransportError('changed', `the file changed on ${where} (MDTM ${facts.modified}, was ${first})`);
    }
    return facts;
  }

  /**
   * Whether this read can restart at `start`. Offsets > 0 always send REST (basic-ftp does, right
   * before RETR); a probe from 0 tests `REST 0` once per server so a server without REST is known
   * before any ranged work is planned for it.
   */
  private async restartsTransfers(pool: FtpSessionPool, session: FtpSession, start: number, probing: boolean, where: string): Promise<boolean> {
    if (pool.restSupported === false) return false;
    if (start > 0 || !probing || pool.restSupported === true) return true;
    const reply = await session.client.sendIgnoringError('REST 0');
    if (reply.code >= 400 && reply.code < 500) throw new FTPError(reply);
    pool.restSupported = reply.code === 350;
    if (!pool.restSupported) this.options.onNotice?.(`${where} refused REST (${reply.message.trim().slice(0, 60)}): no ranged reads from it`);
    return pool.restSupported;
  }
}

/** Waits for the first byte of `read`, or aborts it when `signal` fires first. */
async function abortableStart(read: FtpRangeRead, signal?: AbortSignal): Promise<void> {
  if (!signal) return read.started();
  if (signal.aborted) throw new TransportError('aborted', 'aborted');
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new TransportError('aborted', 'aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([read.started(), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Like an undici body: an abort after the response also ends the body (a probe's time budget). */
function abortBodyWith(read: FtpRangeRead, signal?: AbortSignal): void {
  if (!signal) return;
  const onAbort = (): void => {
    read.body.destroy(new TransportError('aborted', 'aborted'));
  };
  signal.addEventListener('abort', onAbort, { once: true });
  read.body.once('close', () => signal.removeEventListener('abort', onAbort));
}

/** `YYYYMMDDHHMMSS[.sss]` (RFC 3659, UTC) as an HTTP date; undefined when malformed. */
export function httpDateFromMdtm(text: string): string | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?$/.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return Number.isNaN(date.getTime()) ? undefined : date.toUTCString();
}
