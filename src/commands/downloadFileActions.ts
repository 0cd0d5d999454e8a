import * as vscode from 'vscode';
import type { DownloadStore } from '../model/downloadStore';
import { downloadIdOf } from '../views/downloadTreeNodes';

/** Context-menu actions on a finished download's file: open, reveal, copy its hashes. */
export class DownloadFileActions {
  constructor(private readonly store: DownloadStore) {}

  async open(node: unknown): Promise<void> {
    const file = this.fileOf(node);
    if (file) await vscode.commands.executeCommand('vscode.open', file);
  }

  async reveal(node: unknown): Promise<void> {
    const file = this.fileOf(node);
    if (file) await vscode.commands.executeCommand('revealInExplorer', file);
  }

  async copySha256(node: unknown): Promise<void> {
    const sha256 = this.resultOf(node)?.sha256;
    if (!sha256) return;
    await vscode.env.clipboard.writeText(sha256);
    vscode.window.setStatusBarMessage('SHA-256 copied', 2000);
  }

  async copyMerkleRoot(node: unknown): Promise<void> {
    const root = this.resultOf(node)?.root;
    if (!root) return;
    await vscode.env.clipboard.writeText(root);
    vscode.window.setStatusBarMessage('Merkle root copied', 2000);
  }

  private resultOf(node: unknown) {
    const id = downloadIdOf(node);
    return id ? this.store.get(id)?.result : undefined;
  }

  private fileOf(node: unknown): vscode.Uri | undefined {
    const result = this.resultOf(node);
    return result?.ok ? vscode.Uri.file(result.path) : undefined;
  }
}
