import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { EngineClient } from '../worker/engineClient';
import type { ExtensionLog } from '../views/extensionLog';
import { reportCommandError } from './reportCommandError';

const HEX_256 = /^[0-9a-fA-F]{64}$/;

/** "Verify File…": checks a file against its manifest or a SHA-256, hashing in the worker. */
export class VerifyFileCommand {
  constructor(
    private readonly client: EngineClient,
    private readonly log: ExtensionLog,
  ) {}

  async run(file?: vscode.Uri): Promise<void> {
    try {
      const target = file ?? (await vscode.window.showOpenDialog({
        title: 'Verify File',
        canSelectMany: false,
        defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
      }))?.[0];
      if (!target) return;
      const against = await this.askExpectation(target);
      if (!against) return;
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Verifying ${vscode.workspace.asRelativePath(target)}…` },
        () => this.client.request('verifyFile', { path: target.fsPath, ...against }),
      );
      this.log.write(result.ok ? 'info' : 'error', `verify ${target.fsPath}: ${result.message} (sha256 ${result.sha256})`);
      if (result.ok) void vscode.window.showInformationMessage(`${vscode.workspace.asRelativePath(target)}: ${result.message}`);
      else void vscode.window.showErrorMessage(`${vscode.workspace.asRelativePath(target)}: ${result.message}`);
    } catch (error) {
      reportCommandError(this.log, 'Could not verify the file', error);
    }
  }

  private async askExpectation(target: vscode.Uri): Promise<{ manifestPath?: string; expected?: { sha256: string } } | undefined> {
    const sidecar = `${target.fsPath}.manifest.json`;
    const items: Array<vscode.QuickPickItem & { check: 'sidecar' | 'manifest' | 'sha256' }> = [];
    if (fs.existsSync(sidecar)) items.push({ label: `Against ${vscode.workspace.asRelativePath(sidecar)}`, check: 'sidecar' });
    items.push({ label: 'Against a manifest file…', check: 'manifest' }, { label: 'Against a SHA-256…', check: 'sha256' });
    const choice = await vscode.window.showQuickPick(items, { title: 'Verify File', placeHolder: 'What should the file match?' });
    if (!choice) return undefined;
    if (choice.check === 'sidecar') return { manifestPath: sidecar };
    if (choice.check === 'manifest') {
      const picked = await vscode.window.showOpenDialog({ title: 'Manifest', canSelectMany: false, filters: { Manifest: ['json'] }, defaultUri: target });
      return picked?.[0] ? { manifestPath: picked[0].fsPath } : undefined;
    }
    const sha256 = await vscode.window.showInputBox({
      title: 'Verify File',
      prompt: 'Expected SHA-256 (64 hex digits)',
      validateInput: (value) => (HEX_256.test(value.trim()) ? undefined : 'A SHA-256 has 64 hex digits'),
    });
    return sha256 ? { expected: { sha256: sha256.trim().toLowerCase() } } : undefined;
  }
}
