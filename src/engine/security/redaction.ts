/**
 * The single redaction point. Every URL, header set, error message and log line that leaves the
 * engine passes through here (RELIABILITY.md T08: 0 canary-token occurrences anywhere).
 * Redaction errs on the side of removing too much: a log with a missing query string costs
 * nothing, a leaked pre-signed URL or token is an incident.
 */

/** What replaces a secret value. */
export const REDACTED = '<redacted>';
/** Appended to a redacted URL whose query string was removed, so readers know it had one. */
export const QUERY_MARKER = '?…';

/** Secrets shorter than this are not scrubbed from free text: they would shred ordinary words. */
const MIN_SECRET_LENGTH = 4;

const registeredSecrets = new Set<string>();

/**
 * Registers a secret (token, password, cookie value) given to the engine, so that every later
 * `redactText` / `redactUrl` / `redactHeaders` call scrubs it wherever it appears.
 */
export function registerSecret(secret: string): void {
  if (typeof secret === 'string' && secret.length >= MIN_SECRET_LENGTH) registeredSecrets.add(secret);
}

/** Forgets all registered secrets. For tests and for a host that tears the engine down. */
export function clearRegisteredSecrets(): void {
  registeredSecrets.clear();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Replaces every registered or given secret, raw and percent-encoded, longest first. */
function scrubSecrets(text: string, extra: readonly string[] = []): string {
  const secrets = [...registeredSecrets, ...extra.filter((s) => typeof s === 'string' && s.length >= MIN_SECRET_LENGTH)];
  if (secrets.length === 0) return text;
  const forms = new Set<string>();
  for (const secret of secrets) {
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
    forms.add(Buffer.from(secret, 'utf8').toString('base64').replace(/=+$/, ''));
  }
  const pattern = [...forms].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|');
  return text.replace(new RegExp(pattern, 'g'), REDACTED);
}

/**
 * `scheme://host:port/path` of a URL: userinfo, query and fragment dropped (`?…` appended when a
 * query was removed, since pre-signed URLs carry their credentials there). A string that does not
 * parse as a URL is scrubbed as text instead of being returned as is.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redactFreeText(String(url), []);
  }
  const base = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  return scrubSecrets(parsed.search ? `${base}${QUERY_MARKER}` : base);
}

/** Header names whose value is always a credential. */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'private-token']);
/** Name fragments that mark a header as carrying a credential. */
const SECRET_HEADER_PARTS = ['token', 'secret', 'key', 'auth', 'password', 'credential', 'session', 'signature'];

function isSecretHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return SECRET_HEADERS.has(lower) || SECRET_HEADER_PARTS.some((part) => lower.includes(part));
}

/** A header set as Node and undici expose it. */
export type HeaderRecord = Record<string, string | string[] | number | undefined>;

/**
 * Copy of `headers` safe to log: credential-bearing headers become `<redacted>`; every other value
 * goes through `redactText` (a `Location` or `Referer` may hold a pre-signed URL).
 */
export function redactHeaders(headers: HeaderRecord): Record<string, string | string[] | undefined> {
  const result: Record<string, string | string[] | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) {
      result[name] = undefined;
    } else if (isSecretHeader(name)) {
      result[name] = REDACTED;
    } else if (Array.isArray(value)) {
      result[name] = value.map((v) => redactText(String(v)));
    } else {
      result[name] = redactText(String(value));
    }
  }
  return result;
}

// Whole header lines quoted in messages ("Authorization: Basic ...").
const SECRET_HEADER_LINE = /\b((?:proxy-)?authorization|(?:set-)?cookie|x-api-key|private-token)(\s*[:=]\s*)[^\r\n]*/gi;
// Credentials after an auth scheme.
const AUTH_SCHEME = /\b(Bearer|Basic|Digest|Token|Negotiate|NTLM)(\s+)[A-Za-z0-9._~+/=:-]{4,}/gi;
// name=value or "name": "value" where the name looks like a credential.
const SECRET_ASSIGNMENT =
  /\b([\w.-]*(?:token|secret|passw(?:or)?d|api[_-]?key|access[_-]?key|private[_-]?key|credential|signature|session[_-]?id)[\w.-]*|sig|key|auth|pwd)(["']?\s*[=:]\s*["']?)([^\s"'&,;)}\]]+)/gi;
// Absolute URLs with a scheme; the host part is required so prose like "note: x" is left alone.
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;

function redactFreeText(text: string, secrets: readonly string[]): string {
  let out = scrubSecrets(text, secrets);
  out = out.replace(URL_IN_TEXT, (url) => redactUrlOnly(url));
  out = out.replace(SECRET_HEADER_LINE, (_m, name: string, sep: string) => `${name}${sep}${REDACTED}`);
  out = out.replace(AUTH_SCHEME, (_m, scheme: string, space: string) => `${scheme}${space}${REDACTED}`);
  out = out.replace(SECRET_ASSIGNMENT, (_m, name: string, sep: string) => `${name}${sep}${REDACTED}`);
  return out;
}

// URL reduction without re-entering free-text scrubbing (which would recurse on unparsable input).
function redactUrlOnly(url: string): string {
  try {
    const parsed = new URL(url);
    const base = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
    return parsed.search ? `${base}${QUERY_MARKER}` : base;
  } catch {
    // Unparsable: keep only what precedes any userinfo, query or fragment.
    const schemeEnd = url.indexOf('://') + 3;
    const rest = url.slice(schemeEnd).replace(/^[^/?#]*@/, '');
    return url.slice(0, schemeEnd) + rest.replace(/[?#].*$/, (m) => (m.startsWith('?') ? QUERY_MARKER : ''));
  }
}

/**
 * Text safe to show or log: registered secrets and `secrets` removed (raw, percent-encoded and
 * base64 forms), URLs reduced by `redactUrl`, and `Authorization:`/`Cookie:` lines, `Bearer xxx`
 * style credentials and `token=...`/`"password": "..."` style assignments replaced by `<redacted>`.
 */
export function redactText(text: string, secrets?: string[]): string {
  return redactFreeText(String(text), secrets ?? []);
}
