import * as vscode from 'vscode';
import { readEngineSettings, type EngineSettings } from './engineSettings';
import { hostsOfRules, parseMirrorRules, type MirrorRule } from './mirrorRules';
import { proxySettingsFrom, type ProxySettings } from './proxyRoutes';
import { CONFIG_SECTION, DEFAULT_DOWNLOAD_FOLDER, HttpSettingKey, SettingKey } from './settingKeys';

/** Everything a download takes from settings, read once per download. */
export interface DownloadSettings {
  engine: EngineSettings;
  /** Effective mirror rules (in an untrusted workspace VS Code already drops workspace values). */
  rules: MirrorRule[];
  /** Hosts named in user-level mirror rules: downloads from them need no confirmation. */
  userLevelHosts: Set<string>;
  proxy: ProxySettings;
  /** Folder relative to the workspace folder. */
  downloadFolder: string;
  /** Setting entries that were skipped, one line each. */
  problems: string[];
}

/** Reads the settings that apply to downloads into `scope` (a workspace folder). */
export function readDownloadSettings(scope?: vscode.Uri): DownloadSettings {
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION, scope);
  const effective = parseMirrorRules(config.get(SettingKey.mirrors));
  const userLevel = parseMirrorRules(config.inspect(SettingKey.mirrors)?.globalValue);
  const http = vscode.workspace.getConfiguration(HttpSettingKey.section, scope);
  const folder = config.get<string>(SettingKey.downloadFolder);
  return {
    engine: readEngineSettings((key) => config.get(key)),
    rules: effective.rules,
    userLevelHosts: hostsOfRules(userLevel.rules),
    proxy: proxySettingsFrom({
      proxy: http.get(HttpSettingKey.proxy),
      strictSSL: http.get(HttpSettingKey.proxyStrictSSL),
      noProxy: http.get(HttpSettingKey.noProxy),
    }),
    downloadFolder: typeof folder === 'string' && folder.trim() ? folder.trim() : DEFAULT_DOWNLOAD_FOLDER,
    problems: effective.problems,
  };
}
