/**
 * Whole-file SHA-256 announced by a server: RFC 3230 `Digest: SHA-256=<base64>` and RFC 9530
 * `Repr-Digest: sha-256=:<base64>:`. Both describe the full selected representation, so they stay
 * valid on a 206 response (RFC 9530 `Content-Digest` does not: it covers only that message's
 * bytes, and is deliberately not read here). They describe the bytes as encoded: ignore them when
 * a `Content-Encoding` applies. A server's digest is a hint, not trust: it may come from the same
 * mirror that serves the bytes.
 */

const SHA256_BYTES = 32;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Hex of a strict, padded base64 SHA-256 value; undefined if malformed or not exactly 32 bytes. */
function hexFromBase64(value: string): string | undefined {
  if (!STRICT_BASE64.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.length === SHA256_BYTES ? bytes.toString('hex') : undefined;
}

function joinValues(value: string | string[] | undefined | null): string | undefined {
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? value.join(',') : String(value);
}

/** One hex answer from several candidates: undefined when none, or when they disagree. */
function single(found: string[]): string | undefined {
  return found.length > 0 && found.every((f) => f === found[0]) ? found[0] : undefined;
}

/**
 * SHA-256 (hex) from an RFC 3230 `Digest` value such as `SHA-256=X48E9q...=, MD5=...`.
 * The algorithm name is case-insensitive. Undefined if absent, malformed, of the wrong length, or
 * given twice with different values.
 */
export function sha256FromDigest(value: string | string[] | undefined | null): string | undefined {
  const text = joinValues(value);
  if (text === undefined) return undefined;
  const found: string[] = [];
  for (const item of text.split(',')) {
    const equals = item.indexOf('=');
    if (equals === -1) continue;
    if (item.slice(0, equals).trim().toLowerCase() !== 'sha-256') continue;
    const hex = hexFromBase64(item.slice(equals + 1).trim());
    if (hex === undefined) return undefined;
    found.push(hex);
  }
  return single(found);
}

/**
 * SHA-256 (hex) from an RFC 9530 `Repr-Digest` value, a structured-field dictionary such as
 * `sha-256=:X48E9q...=:, sha-512=:...:`. Keys are lower-case per RFC 8941; parameters after `;`
 * are ignored. Undefined if absent, malformed, of the wrong length, or ambiguous.
 */
export function sha256FromReprDigest(value: string | string[] | undefined | null): string | undefined {
  const text = joinValues(value);
  if (text === undefined) return undefined;
  const found: string[] = [];
  for (const item of text.split(',')) {
    const member = item.split(';')[0].trim();
    const equals = member.indexOf('=');
    if (equals === -1) continue;
    if (member.slice(0, equals).trim() !== 'sha-256') continue;
    const match = /^:([A-Za-z0-9+/=]*):$/.exec(member.slice(equals + 1).trim());
    const hex = match ? hexFromBase64(match[1]) : undefined;
    if (hex === undefined) return undefined;
    found.push(hex);
  }
  return single(found);
}

/**
 * SHA-256 (hex) announced by a response's headers: `Repr-Digest` first (the current standard),
 * else `Digest`. Header names are looked up case-insensitively.
 */
export function sha256FromHeaders(headers: Record<string, string | string[] | undefined>): string | undefined {
  const get = (name: string): string | string[] | undefined =>
    Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
  return sha256FromReprDigest(get('repr-digest')) ?? sha256FromDigest(get('digest'));
}
