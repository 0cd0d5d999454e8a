/**
 * Credentials pasted into URLs of `artifactFetch.mirrors` (mirror and proxy URLs). settings.json is
 * plain text that gets synced and committed, so a credential there is flagged, never used: the
 * URL is stripped of it before it becomes a source, and the user is offered to move a mirror's
 * token to SecretStorage (bound to that exact origin). No function here returns text that
 * contains the secret itself, except `secret` fields meant for SecretStorage.
 */

/** Which settings file a value came from (as VS Code's `inspect()` splits them). */
export type SettingsScope = 'user' | 'workspace' | 'workspaceFolder';

/** One credential found in a URL of the mirrors setting. */
export interface SettingsCredential {
  /** Path of the value, e.g. `artifactFetch.mirrors[0].mirrors[1].proxy`. */
  setting: string;
  /** undefined: the merged value, whose file is not known. */
  scope?: SettingsScope;
  /** Origin the credential was for (`https://host[:port]`). */
  origin: string;
  /** Where in the URL it sat, for the message: "a password in the URL", "the query parameter token". */
  where: string;
  /** The URL is a proxy route, not a mirror (its credential is not a mirror token). */
  proxy: boolean;
  /** The credential itself: only for SecretStorage, never for a message or a log. */
  secret: string;
}

/** Query parameters that carry a token or a signature (lower case; compared case-insensitively). */
const CREDENTIAL_PARAMETERS = new Set([
  'token', 'access_token', 'accesstoken', 'auth', 'auth_token', 'authorization', 'api_key', 'apikey', 'key',
  'private_token', 'hf_token', 'client_secret', 'secret', 'password', 'passwd', 'pwd',
  'sig', 'signature', 'x-amz-signature', 'x-amz-credential', 'x-amz-security-token', 'x-goog-signature', 'x-goog-credential',
]);
/** Values that look like a token whatever the parameter is called (Hugging Face, GitHub, GitLab, Slack, JWT). */
const TOKEN_VALUE = /^(?:hf_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{16,}|xox[abprs]-[A-Za-z0-9-]{10,}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*)$/;

/** A URL's credentials and the URL without them (unchanged when it has none or does not parse). */
export function urlCredentials(url: string): { found: Array<{ where: string; secret: string }>; stripped: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { found: [], stripped: url };
  }
  const found: Array<{ where: string; secret: string }> = [];
  if (parsed.password) {
    found.push({ where: 'a password in the URL', secret: decodeURIComponent(parsed.password) });
  } else if (parsed.username) {
    // `https://TOKEN@host/`: a lone user name in an https URL is how tokens are usually pasted.
    found.push({ where: 'a user name in the URL', secret: decodeURIComponent(parsed.username) });
  }
  parsed.username = '';
  parsed.password = '';
  for (const [name, value] of [...parsed.searchParams]) {
    if (!value || !(CREDENTIAL_PARAMETERS.has(name.toLowerCase()) || TOKEN_VALUE.test(value))) continue;
    found.push({ where: `the query parameter "${name}"`, secret: value });
    parsed.searchParams.delete(name);
  }
  return { found, stripped: found.length > 0 ? parsed.toString() : url };
}

/** Every credential in the URLs of one scope's value of `artifactFetch.mirrors`. */
export function findMirrorSettingCredentials(raw: unknown, scope?: SettingsScope): SettingsCredential[] {
  const credentials: SettingsCredential[] = [];
  const check = (value: unknown, setting: string, proxy: boolean): void => {
    if (typeof value !== 'string') return;
    let origin: string;
    try {
      origin = new URL(value).origin;
    } catch {
      return;
    }
    for (const { where, secret } of urlCredentials(value).found) credentials.push({ setting, scope, origin, where, proxy, secret });
  };
  if (!Array.isArray(raw)) return credentials;
  raw.forEach((rule: unknown, i) => {
    if (typeof rule !== 'object' || rule === null) return;
    const { prefix, mirrors } = rule as { prefix?: unknown; mirrors?: unknown };
    check(prefix, `artifactFetch.mirrors[${i}].prefix`, false);
    if (!Array.isArray(mirrors)) return;
    mirrors.forEach((mirror: unknown, j) => {
      const where = `artifactFetch.mirrors[${i}].mirrors[${j}]`;
      if (typeof mirror === 'string') return check(mirror, where, false);
      if (typeof mirror !== 'object' || mirror === null) return;
      const entry = mirror as { url?: unknown; prefix?: unknown; proxy?: unknown };
      check(entry.url ?? entry.prefix, `${where}.url`, false);
      check(entry.proxy, `${where}.proxy`, true);
    });
  });
  return credentials;
}

/** A deep copy of a mirrors setting value with every URL stripped of its credentials. */
export function stripMirrorSettingCredentials(raw: unknown): unknown {
  if (!Array.isArray(raw)) return raw;
  const strip = (value: unknown): unknown => (typeof value === 'string' ? urlCredentials(value).stripped : value);
  return raw.map((rule: unknown) => {
    if (typeof rule !== 'object' || rule === null) return rule;
    const copy = { ...(rule as Record<string, unknown>) };
    copy.prefix = strip(copy.prefix);
    if (Array.isArray(copy.mirrors)) {
      copy.mirrors = copy.mirrors.map((mirror: unknown) => {
        if (typeof mirror !== 'object' || mirror === null) return strip(mirror);
        const entry = { ...(mirror as Record<string, unknown>) };
        for (const key of ['url', 'prefix', 'proxy']) if (key in entry) entry[key] = strip(entry[key]);
        return entry;
      });
    }
    return copy;
  });
}

const SCOPE_NAMES: Record<SettingsScope, string> = { user: 'user settings', workspace: 'workspace settings', workspaceFolder: 'folder settings' };

/**
 * One warning line per credential: where it is and what to do, never the secret. Workspace files
 * are usually committed, so their credentials are never used, only removed.
 */
export function credentialWarning(credential: SettingsCredential): string {
  const advice = credential.scope === 'workspace' || credential.scope === 'workspaceFolder'
    ? 'it is not used: workspace settings are shared with the repository; remove it and revoke it'
    : credential.proxy
      ? 'it is not used: remove it from settings.json'
      : 'it is not used: move it to SecretStorage (Set Access Token for Host…), where it is sent to this origin only';
  const file = credential.scope ? SCOPE_NAMES[credential.scope] : 'settings';
  return `${credential.setting} in ${file} holds a credential (${credential.where}) for ${credential.origin}; ${advice}`;
}
