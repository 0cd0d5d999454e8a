/** `host[:port]` of a URL, lower-cased: the unit of "do you trust downloads from here?". */
export function hostOfUrl(url: string): string {
  return new URL(url).host.toLowerCase();
}

/**
 * Hosts among `urls` that need the user's confirmation: not named in user-level settings and
 * not confirmed before. Workspace-level settings do not count (a cloned repo must not be able to
 * point downloads at a host silently).
 */
export function hostsNeedingConsent(urls: readonly string[], userLevelHosts: ReadonlySet<string>, confirmedHosts: ReadonlySet<string>): string[] {
  const needed: string[] = [];
  for (const url of urls) {
    let host: string;
    try {
      host = hostOfUrl(url);
    } catch {
      continue;
    }
    if (userLevelHosts.has(host) || confirmedHosts.has(host) || needed.includes(host)) continue;
    needed.push(host);
  }
  return needed;
}
