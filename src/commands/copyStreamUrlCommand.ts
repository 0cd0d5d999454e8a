import * as vscode from 'vscode';
import type { DownloadStore } from '../model/downloadStore';
import { facetsOf } from '../model/contextValue';
import type { ExtensionLog } from '../views/extensionLog';
import { downloadIdOf } from '../views/downloadTreeNodes';
import type { EngineClient } from '../worker/engineClient';
import { reportCommandError } from './reportCommandError';

/**
 * "Copy Stream URL": the loopback URL (with its per-download token) at which another program can
 * read the download's verified bytes in order while it runs. From a tree row, or from the palette
 * with a pick among the running downloads.
 */
export class CopyStreamUrlCommand {
  constructor(private readonly store: DownloadStore, private readonly client: EngineClient, private readonly log: ExtensionLog) {}

  async run(node?: unknown): Promise<void> {
    const id = downloadIdOf(node) ?? (await this.pickRunning());
    if (!id) return;
    try {
      const url = await this.client.openStreamUrl(id);
      await vscode.env.clipboard.writeText(url);
      vscode.window.setStatusBarMessage('Stream URL copied: it answers on 127.0.0.1 while the download runs', 4000);
      this.log.write('info', `stream URL of ${this.store.get(id)?.request.name ?? id} copied (token not logged)`);
    } catch (error) {
      reportCommandError(this.log, 'Copy Stream URL', error);
    }
  }

  private async pickRunning(): Promise<string | undefined> {
    const running = this.store.list().filter((record) => facetsOf(record).includes('streamable'));
    if (running.length === 0) {
      void vscode.window.showInformationMessage('No download is running: a stream URL exists only while a download runs.');
      return undefined;
    }
    if (running.length === 1) return running[0].id;
    const picked = await vscode.window.showQuickPick(
      running.map((record) => ({ label: record.snapshot?.name ?? record.request.name, description: record.status, id: record.id })),
      { placeHolder: 'Which download?' },
    );
    return picked?.id;
  }
}
