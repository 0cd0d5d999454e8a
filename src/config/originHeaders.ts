import type { JobOptions, SourceSpec } from '../engine/jobOptions';

/** `scheme://host[:port]` of a URL (the key under which a token is stored and sent). */
export function originOfUrl(url: string): string {
  return new URL(url).origin;
}

/**
 * Normalizes what a user typed as a host for a token: `example.com`, `https://example.com/x`,
 * `http://localhost:8080` → its origin; https is assumed when no scheme is given.
 */
export function normalizeOrigin(input: string): string | undefined {
  const trimmed = input.trim();
  if (!trimmed) return undefined;
  try {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

/**
 * `Authorization` headers for the origins of `sources` that have a token, keyed by exact origin
 * (the engine sends each only to that origin, never across redirects to another one).
 */
export async function originHeadersFor(
  sources: readonly SourceSpec[],
  tokenFor: (origin: string) => Promise<string | undefined>,
): Promise<JobOptions['originHeaders']> {
  const headers: NonNullable<JobOptions['originHeaders']> = {};
  for (const source of sources) {
    let origin: string;
    try {
      origin = originOfUrl(source.url);
    } catch {
      continue;
    }
    if (origin in headers) continue;
    const token = await tokenFor(origin);
    if (token) headers[origin] = { Authorization: `Bearer ${token}` };
  }
  return Object.keys(headers).length > 0 ? headers : undefined;
}
