import * as vscode from 'vscode';
import { readDownloadSettings } from '../config/downloadSettings';
import { parseDownloadLink } from '../config/downloadLink';
import { sourcesForUrl } from '../config/mirrorRules';
import type { SourceSpec } from '../engine/jobOptions';
import { redactUrl } from '../engine/security/redaction';
import type { ExtensionLog } from '../views/extensionLog';
import { pickWorkspaceFolder, type DownloadLauncher } from './downloadLauncher';
import { reportCommandError } from './reportCommandError';

/**
 * Handles `vscode://artifact-fetch.artifact-fetch/download?url=…&mirror=…&sha256=…`. A link can
 * come from any web page, so it always asks first, showing every host it would contact.
 */
export class DownloadUriHandler implements vscode.UriHandler {
  constructor(
    private readonly launcher: DownloadLauncher,
    private readonly log: ExtensionLog,
  ) {}

  async handleUri(uri: vscode.Uri): Promise<void> {
    try {
      const link = parseDownloadLink(uri.path, uri.query);
      const folder = await pickWorkspaceFolder();
      const settings = readDownloadSettings(folder.uri);
      const sources: SourceSpec[] = [...sourcesForUrl(link.url, settings.rules)];
      for (const mirror of link.mirrors) sources.push({ url: mirror, origin: 'link' });
      const hosts = [...new Set(sources.map((source) => new URL(source.url).host))];
      const download = 'Download';
      const answer = await vscode.window.showWarningMessage(
        `A link asks Artifact Fetch to download ${redactUrl(link.url)}`,
        {
          modal: true,
          detail: [
            `Hosts contacted: ${hosts.join(', ')}`,
            link.sha256 ? `Expected SHA-256: ${link.sha256}` : 'No expected hash: sources are cross-checked against each other.',
            `Into: ${folder.name}/${settings.downloadFolder}`,
          ].join('\n'),
        },
        download,
      );
      if (answer !== download) {
        this.log.write('info', `download link for ${link.url} declined`);
        return;
      }
      await this.launcher.launch({
        sources,
        workspaceFolder: folder,
        expected: link.sha256 ? { sha256: link.sha256 } : undefined,
        origin: 'uri',
        hostsConfirmed: true,
      });
    } catch (error) {
      reportCommandError(this.log, 'Download link refused', error);
    }
  }
}
