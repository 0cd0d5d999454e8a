import * as vscode from 'vscode';
import type { EngineClient } from '../worker/engineClient';
import type { ExtensionLog } from '../views/extensionLog';
import { pickWorkspaceFolder, type DownloadLauncher } from './downloadLauncher';
import { reportCommandError } from './reportCommandError';

/** "Download from Metalink File…": reads a .meta4/.metalink in the worker and downloads its file from every listed location. */
export class DownloadMetalinkCommand {
  constructor(
    private readonly client: EngineClient,
    private readonly launcher: DownloadLauncher,
    private readonly log: ExtensionLog,
  ) {}

  async run(file?: vscode.Uri): Promise<void> {
    try {
      const folder = await pickWorkspaceFolder();
      const picked = file ? [file] : await vscode.window.showOpenDialog({
        title: 'Download from Metalink File',
        canSelectMany: false,
        defaultUri: folder.uri,
        filters: { Metalink: ['meta4', 'metalink'] },
      });
      if (!picked || picked.length === 0) return;
      const plan = await this.client.request('readMetalink', { path: picked[0].fsPath });
      // Higher SourceSpec.priority first: the best-preferred location becomes the primary.
      const sources = [...plan.sources].sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0));
      this.log.write('info', `metalink ${picked[0].fsPath}: ${plan.fileName} from ${sources.length} location(s)${plan.expected?.sha256 ? ', sha256 given' : ''}`);
      await this.launcher.launch({
        sources,
        fileName: plan.fileName,
        workspaceFolder: folder,
        expected: plan.expected,
        origin: 'metalink',
      });
    } catch (error) {
      reportCommandError(this.log, 'Metalink download failed to start', error);
    }
  }
}
