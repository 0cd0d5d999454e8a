/**
 * RFC 6249 mirrors announced in `Link` headers (RFC 8288 syntax), e.g.
 *   Link: <http://m1.example/f.iso>; rel=duplicate; pri=1; geo=de; pref
 * Only `rel=duplicate` links count; targets are resolved against the request URL and kept only
 * when http or https. Malformed link-values are skipped, never fatal: these come from servers.
 */
import { readParams } from './headerParams';

/** One mirror from a `Link: rel=duplicate` header. */
export interface LinkMirror {
  /** Absolute http(s) URL. */
  url: string;
  /** RFC 6249 `pri`: 1..999999, lower is preferred. */
  priority?: number;
  /** RFC 6249 `geo`: ISO 3166-1 alpha-2 country code, lower-cased. */
  geo?: string;
  /** RFC 6249 `pref`: the server prefers this mirror. */
  pref?: boolean;
  /** RFC 6249 `depth`: how many path levels the mirror relation holds for. */
  depth?: number;
}

function parseInteger(value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined || !/^\d{1,9}$/.test(value)) return undefined;
  const n = Number(value);
  return n >= min && n <= max ? n : undefined;
}

function resolveHttpUrl(reference: string, base: string): string | undefined {
  try {
    const url = new URL(reference.trim(), base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Mirrors from one or several `Link` header values (each possibly a comma list), in order,
 * without duplicates. `requestUrl` is the URL the response came from (after redirects).
 */
export function parseLinkMirrors(linkHeaders: string | string[] | undefined | null, requestUrl: string): LinkMirror[] {
  if (linkHeaders === undefined || linkHeaders === null) return [];
  const values = Array.isArray(linkHeaders) ? linkHeaders : [linkHeaders];
  const mirrors: LinkMirror[] = [];
  const seen = new Set<string>();
  for (const value of values) {
    const text = String(value);
    let i = 0;
    while (i < text.length) {
      while (i < text.length && (text[i] === ',' || /\s/.test(text[i]))) i++;
      if (i >= text.length) break;
      if (text[i] !== '<') {
        // Not a link-value: skip it (to the next top-level comma).
        i = readParams(text, i, true).end;
        if (text[i] !== ',') i++;
        continue;
      }
      const close = text.indexOf('>', i + 1);
      if (close === -1) break;
      const reference = text.slice(i + 1, close);
      const { params, end } = readParams(text, close + 1, true);
      i = end;
      const first = (name: string): string | undefined => params.find((p) => p.name === name)?.value;
      const rel = first('rel');
      if (rel === undefined || !rel.toLowerCase().split(/\s+/).includes('duplicate')) continue;
      const url = resolveHttpUrl(reference, requestUrl);
      if (url === undefined || seen.has(url)) continue;
      seen.add(url);
      const mirror: LinkMirror = { url };
      const priority = parseInteger(first('pri'), 1, 999999);
      if (priority !== undefined) mirror.priority = priority;
      const geo = first('geo');
      if (geo !== undefined && /^[A-Za-z]{2}$/.test(geo)) mirror.geo = geo.toLowerCase();
      if (params.some((p) => p.name === 'pref')) mirror.pref = true;
      const depth = parseInteger(first('depth'), 0, 1_000_000);
      if (depth !== undefined) mirror.depth = depth;
      mirrors.push(mirror);
    }
  }
  return mirrors;
}
