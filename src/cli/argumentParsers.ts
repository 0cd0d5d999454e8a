/** Parsers for CLI values: each throws a FetchError(BadArguments) that names the flag. */
import { isIP } from 'node:net';
import { ErrorCode, FetchError } from '../engine/errors';

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `1048576`, `512k`, `4M`, `1G` → bytes. */
export function parseByteCount(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  if (!match) throw new FetchError(ErrorCode.BadArguments, `${flag} expects a byte count such as 4M or 524288, got "${text}"`);
  const value = Math.round(Number(match[1]) * UNITS[match[2].toLowerCase()]);
  if (!Number.isSafeInteger(value) || value <= 0) throw new FetchError(ErrorCode.BadArguments, `${flag} must be positive`);
  return value;
}

export function parsePositiveInt(flag: string, text: string, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new FetchError(ErrorCode.BadArguments, `${flag} expects a whole number, got "${text}"`);
  const value = Number(text);
  if (value < 1 || value > max) throw new FetchError(ErrorCode.BadArguments, `${flag} must be between 1 and ${max}`);
  return value;
}

export function parseHex256(flag: string, text: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(text.trim())) throw new FetchError(ErrorCode.BadArguments, `${flag} expects 64 hex digits`);
  return text.trim().toLowerCase();
}

/** `--proxy-route <url-prefix>=<proxy>` → the pair; the URL part may itself contain '='. */
export function parseProxyRoute(text: string): { url: string; proxy: string } {
  const index = text.lastIndexOf('=');
  if (index <= 0) throw new FetchError(ErrorCode.BadArguments, `--proxy-route expects <url>=<proxy-url>, got "${text}"`);
  const url = text.slice(0, index);
  const proxy = text.slice(index + 1);
  for (const part of [url, proxy]) {
    try {
      const parsed = new URL(part);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('scheme');
    } catch {
      throw new FetchError(ErrorCode.BadArguments, `--proxy-route: "${part}" is not an http(s) URL`);
    }
  }
  return { url, proxy };
}

/** `--bind-route <url-prefix>=<local IP address>` → the pair (IPv6 addresses contain no '='). */
export function parseBindRoute(text: string): { url: string; localAddress: string } {
  const index = text.lastIndexOf('=');
  if (index <= 0) throw new FetchError(ErrorCode.BadArguments, `--bind-route expects <url>=<local address>, got "${text}"`);
  const url = text.slice(0, index);
  const localAddress = text.slice(index + 1).trim();
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new FetchError(ErrorCode.BadArguments, `--bind-route: "${url}" is not an http(s) URL`);
  }
  if (isIP(localAddress) === 0) throw new FetchError(ErrorCode.BadArguments, `--bind-route: "${localAddress}" is not an IP address`);
  return { url, localAddress };
}

/**
 * A source argument: a plain URL, or `gzip+<url>` for a source that serves a gzip-compressed copy
 * (decoded as one stream; see adapters/gzipSource.ts).
 */
export function parseSourceArgument(text: string): { url: string; encoding?: 'gzip' } {
  const match = /^gzip\+(https?:.*)$/i.exec(text);
  return match ? { url: match[1], encoding: 'gzip' } : { url: text };
}

/** A share 0..1, as a fraction (`0.25`) or a percentage (`25%`). */
export function parseShare(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  const value = match ? Number(match[1]) / (match[2] ? 100 : 1) : NaN;
  if (!(value >= 0 && value <= 1)) throw new FetchError(ErrorCode.BadArguments, `${flag} expects a share between 0 and 1 (or 0% to 100%), got "${text}"`);
  return value;
}

/** A two-letter location code, lower-cased. */
export function parseLocation(flag: string, text: string): string {
  if (!/^[a-z]{2}$/i.test(text.trim())) throw new FetchError(ErrorCode.BadArguments, `${flag} expects a two-letter country code such as de, got "${text}"`);
  return text.trim().toLowerCase();
}

export function parseHttpUrl(flag: string, text: string): string {
  try {
    const parsed = new URL(text);
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return text;
  } catch {
    // fall through to the error below
  }
  throw new FetchError(ErrorCode.BadArguments, `${flag} expects an http(s) URL, got "${text}"`);
}
