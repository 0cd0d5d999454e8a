import * as vscode from 'vscode';
import { hostsNeedingConsent } from './hostTrust';

const CONFIRMED_HOSTS_KEY = 'artifactFetch.confirmedHosts';

/**
 * Asks once per host before the first download from it, unless the host is named in user-level
 * settings. "Allow" is remembered in globalState (per user, across workspaces).
 */
export class HostConsent {
  constructor(private readonly globalState: vscode.Memento) {}

  /** Resolves true when every host of `urls` is allowed (asking with one modal if needed). */
  async confirm(urls: readonly string[], userLevelHosts: ReadonlySet<string>): Promise<boolean> {
    const hosts = hostsNeedingConsent(urls, userLevelHosts, this.confirmedHosts());
    if (hosts.length === 0) return true;
    const allow = 'Allow';
    const answer = await vscode.window.showWarningMessage(
      hosts.length === 1 ? `Download from ${hosts[0]}?` : `Download from ${hosts.length} new hosts?`,
      {
        modal: true,
        detail: `This is the first download from ${hosts.join(', ')}, which your user settings (artifactFetch.mirrors) do not name. Every byte is still verified, but the host will see your requests. Allow downloads from ${hosts.length === 1 ? 'it' : 'them'} from now on?`,
      },
      allow,
    );
    if (answer !== allow) return false;
    await this.remember(hosts);
    return true;
  }

  /** Records hosts the user already approved in another way (e.g. the URI handler's prompt). */
  async remember(hosts: readonly string[]): Promise<void> {
    const confirmed = this.confirmedHosts();
    for (const host of hosts) confirmed.add(host);
    await this.globalState.update(CONFIRMED_HOSTS_KEY, [...confirmed].sort());
  }

  private confirmedHosts(): Set<string> {
    const stored = this.globalState.get<unknown>(CONFIRMED_HOSTS_KEY);
    return new Set(Array.isArray(stored) ? stored.filter((host): host is string => typeof host === 'string') : []);
  }
}
