/**
 * An `ftp://` or `ftps://` URL taken apart: where to connect, who to log in as, which file.
 * `ftps://` is explicit TLS (AUTH TLS on the usual port 21), the form RFC 4217 standardises.
 */
import { TransportError } from '../httpTransport';
import { redactUrl } from '../security/redaction';

/** Where one FTP file lives and how to log in. */
export interface FtpLocation {
  secure: boolean;
  host: string;
  port: number;
  /** From the URL's userinfo; `anonymous` when the URL has none. */
  user: string;
  password: string;
  /** The file, relative to the login directory (RFC 1738); `%2F` at the start makes it absolute. */
  path: string;
  /** Sessions are pooled per server and login: servers count sessions per client address. */
  serverKey: string;
}

/** The RFC 1635 anonymous login. */
const ANONYMOUS = { user: 'anonymous', password: 'anonymous@' };

/** Parses an ftp(s) URL; throws a permanent TransportError for anything we must not send. */
export function parseFtpLocation(url: string): FtpLocation {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TransportError('permanent', `not a valid URL: ${redactUrl(url)}`);
  }
  const secure = parsed.protocol === 'ftps:';
  if (!secure && parsed.protocol !== 'ftp:') throw new TransportError('permanent', `not an FTP URL: ${redactUrl(url)}`);
  const decode = (text: string): string => {
    try {
      return decodeURIComponent(text);
    } catch {
      throw new TransportError('permanent', `malformed percent-encoding in ${redactUrl(url)}`);
    }
  };
  const user = parsed.username ? decode(parsed.username) : ANONYMOUS.user;
  const password = parsed.username ? decode(parsed.password) : ANONYMOUS.password;
  const path = decode(parsed.pathname.replace(/^\//, '').replace(/;type=[aid]$/i, ''));
  // A CR or LF in a decoded name would end our command and start one chosen by the URL's author.
  if (/[\r\n\0]/.test(path + user + password)) throw new TransportError('permanent', `control characters in ${redactUrl(url)}`);
  if (path === '' || path.endsWith('/')) throw new TransportError('permanent', `${redactUrl(url)} names a folder, not a file`);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = parsed.port ? Number(parsed.port) : 21;
  return { secure, host, port, user, password, path, serverKey: `${secure ? 'ftps' : 'ftp'}://${user}@${host}:${port}` };
}
