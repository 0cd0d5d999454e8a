import * as vscode from 'vscode';
import { facetsOf, type DownloadFacet } from '../model/contextValue';
import type { DownloadController } from '../model/downloadController';
import { downloadName } from '../model/downloadRows';
import type { DownloadStore } from '../model/downloadStore';
import { downloadIdOf } from '../views/downloadTreeNodes';
import type { ExtensionLog } from '../views/extensionLog';
import { reportCommandError } from './reportCommandError';

/**
 * Pause / Resume / Cancel / Retry / Remove, from a tree row (inline or context menu) or from the
 * palette (then the user picks among the downloads the action fits).
 */
export class DownloadActions {
  constructor(
    private readonly store: DownloadStore,
    private readonly controller: DownloadController,
    private readonly log: ExtensionLog,
  ) {}

  pause(node?: unknown): Promise<void> {
    return this.act(node, 'pausable', 'Pause', (id) => this.controller.pause(id));
  }

  resume(node?: unknown): Promise<void> {
    return this.act(node, 'resumable', 'Resume', (id) => this.controller.resume(id));
  }

  retry(node?: unknown): Promise<void> {
    return this.act(node, 'retryable', 'Retry', (id) => this.controller.retry(id));
  }

  remove(node?: unknown): Promise<void> {
    return this.act(node, 'removable', 'Remove from List', async (id) => this.controller.remove(id));
  }

  /** Asks whether to keep the partial data (to resume later) or delete it, then cancels. */
  cancel(node?: unknown): Promise<void> {
    return this.act(node, 'cancellable', 'Cancel', async (id) => {
      const record = this.store.get(id);
      const keep = 'Keep Partial Data';
      const discard = 'Discard Partial Data';
      const answer = await vscode.window.showWarningMessage(
        `Cancel the download of ${record ? downloadName(record) : id}?`,
        { modal: true, detail: 'Kept data lets Retry continue where it stopped; discarded data is deleted.' },
        keep,
        discard,
      );
      if (answer === undefined) return;
      await this.controller.cancel(id, answer === discard);
    });
  }

  private async act(node: unknown, facet: DownloadFacet, verb: string, action: (id: string) => Promise<void>): Promise<void> {
    try {
      const id = downloadIdOf(node) ?? await this.pick(facet, verb);
      if (id) await action(id);
    } catch (error) {
      reportCommandError(this.log, `${verb} failed`, error);
    }
  }

  private async pick(facet: DownloadFacet, verb: string): Promise<string | undefined> {
    const fitting = this.store.list().filter((record) => facetsOf(record).includes(facet));
    if (fitting.length === 0) {
      void vscode.window.showInformationMessage(`No download to ${verb.toLowerCase()}.`);
      return undefined;
    }
    if (fitting.length === 1) return fitting[0].id;
    const picked = await vscode.window.showQuickPick(
      fitting.map((record) => ({ label: downloadName(record), description: record.status, detail: record.request.options.outputPath, id: record.id })),
      { title: verb, placeHolder: `Download to ${verb.toLowerCase()}` },
    );
    return picked?.id;
  }
}
