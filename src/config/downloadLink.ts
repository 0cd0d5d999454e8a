import { ErrorCode, FetchError } from '../engine/errors';

/** What a `vscode://artifact-fetch.artifact-fetch/download?…` link asks for. */
export interface DownloadLink {
  url: string;
  mirrors: string[];
  sha256?: string;
}

const HEX_256 = /^[0-9a-fA-F]{64}$/;

function requireHttpUrl(value: string, what: string): string {
  try {
    const protocol = new URL(value).protocol;
    if (protocol === 'http:' || protocol === 'https:') return value;
  } catch {
    // fall through to the error below
  }
  throw new FetchError(ErrorCode.BadArguments, `${what} is not an http(s) URL`);
}

/**
 * Parses the query of a download link: `url` (required), `mirror` (repeatable), `sha256`
 * (64 hex). Anything else is ignored; anything malformed is refused, never guessed at.
 */
export function parseDownloadLink(path: string, query: string): DownloadLink {
  if (path.replace(/\/+$/, '') !== '/download') throw new FetchError(ErrorCode.BadArguments, `unknown link path ${JSON.stringify(path)}; expected /download`);
  const params = new URLSearchParams(query);
  const url = params.get('url');
  if (!url) throw new FetchError(ErrorCode.BadArguments, 'the link has no url parameter');
  const link: DownloadLink = {
    url: requireHttpUrl(url, 'the url parameter'),
    mirrors: params.getAll('mirror').map((mirror, index) => requireHttpUrl(mirror, `mirror ${index + 1}`)),
  };
  const sha256 = params.get('sha256');
  if (sha256 !== null) {
    if (!HEX_256.test(sha256)) throw new FetchError(ErrorCode.BadArguments, 'the sha256 parameter must be 64 hex digits');
    link.sha256 = sha256.toLowerCase();
  }
  return link;
}
