/**
 * RFC 6266 `Content-Disposition` parsing. The file name returned here is RAW server input: pass it
 * through `safeFileName` (security/pathSafety.ts `nameFromContentDisposition` does) before use.
 */
import { readParams } from './headerParams';

/** The disposition type and the server's suggested name, if any (unsanitised). */
export interface ContentDisposition {
  /** Lower-cased, e.g. "attachment" or "inline". */
  type: string;
  filename?: string;
}

/**
 * Decodes an RFC 8187 ext-value `charset'lang'pct-encoded` (UTF-8 or ISO-8859-1). Undefined when
 * malformed, so the caller falls back to the plain `filename` parameter.
 */
export function decodeExtValue(extValue: string): string | undefined {
  const match = /^([A-Za-z0-9!#$%&+^_`{}~-]+)'[A-Za-z0-9-]*'(.*)$/.exec(extValue.trim());
  if (!match) return undefined;
  const charset = match[1].toLowerCase();
  const encoded = match[2];
  if (!/^(?:[A-Za-z0-9!#$&+.^_`|~-]|%[0-9A-Fa-f]{2})*$/.test(encoded)) return undefined;
  if (charset === 'utf-8') {
    try {
      return decodeURIComponent(encoded);
    } catch {
      return undefined;
    }
  }
  if (charset === 'iso-8859-1') {
    const bytes = encoded.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    return bytes;
  }
  return undefined;
}

/**
 * Parses one `Content-Disposition` value. `filename*` wins over `filename` (RFC 6266 §4.3); the
 * first occurrence of each parameter counts. Undefined for an empty or missing header.
 */
export function parseContentDisposition(header: string | undefined | null): ContentDisposition | undefined {
  if (typeof header !== 'string') return undefined;
  const text = header.trim();
  if (!text) return undefined;
  const semicolon = text.indexOf(';');
  const type = (semicolon === -1 ? text : text.slice(0, semicolon)).trim().toLowerCase();
  if (!type) return undefined;
  const { params } = readParams(text, semicolon === -1 ? text.length : semicolon, false);
  const first = (name: string): string | undefined => params.find((p) => p.name === name)?.value;
  const extended = first('filename*');
  const filename = (extended !== undefined ? decodeExtValue(extended) : undefined) ?? first('filename');
  return filename === undefined ? { type } : { type, filename };
}
