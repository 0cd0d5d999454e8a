import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { pieceSizeChoices } from '../config/engineSettings';
import type { EngineClient } from '../worker/engineClient';
import type { ExtensionLog } from '../views/extensionLog';
import { reportCommandError } from './reportCommandError';

/** "Create Manifest for File…": hashes a file in the worker and writes `<file>.manifest.json` (SHA-256 + Merkle root + leaves). */
export class CreateManifestCommand {
  constructor(
    private readonly client: EngineClient,
    private readonly log: ExtensionLog,
  ) {}

  async run(file?: vscode.Uri): Promise<void> {
    try {
      const target = file ?? (await vscode.window.showOpenDialog({
        title: 'Create Manifest for File',
        canSelectMany: false,
        defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
      }))?.[0];
      if (!target) return;
      const choice = await vscode.window.showQuickPick(Object.keys(pieceSizeChoices).map((label) => ({ label })), {
        title: 'Piece size of the Merkle tree',
        placeHolder: 'auto chooses from the file size',
      });
      if (!choice) return;
      const manifestPath = `${target.fsPath}.manifest.json`;
      if (fs.existsSync(manifestPath)) {
        const replace = 'Replace';
        const answer = await vscode.window.showWarningMessage(`${vscode.workspace.asRelativePath(manifestPath)} exists. Replace it?`, { modal: true }, replace);
        if (answer !== replace) return;
      }
      const summary = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Hashing ${vscode.workspace.asRelativePath(target)}…` },
        () => this.client.request('createManifest', { path: target.fsPath, pieceSize: pieceSizeChoices[choice.label] }),
      );
      this.log.write('info', `manifest ${summary.manifestPath}: size ${summary.size}, piece ${summary.pieceSize}, root ${summary.root}, sha256 ${summary.sha256}`);
      const copy = 'Copy Merkle Root';
      const answer = await vscode.window.showInformationMessage(`Wrote ${vscode.workspace.asRelativePath(summary.manifestPath)} (root ${summary.root.slice(0, 16)}…)`, copy);
      if (answer === copy) await vscode.env.clipboard.writeText(summary.root);
    } catch (error) {
      reportCommandError(this.log, 'Could not create the manifest', error);
    }
  }
}
