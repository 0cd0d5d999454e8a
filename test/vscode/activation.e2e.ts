import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activatedExtension, EXTENSION_ID } from './extensionFixtures';
import { suiteLog } from './suiteLog';

interface ContributedCommand {
  command: string;
}

describe('Artifact Fetch in a real extension host: activation and contributions', () => {
  it('loads from the development folder and activates in a Node extension host', async () => {
    const extension = await activatedExtension();
    assert.equal(extension.isActive, true);
    assert.equal(extension.id, EXTENSION_ID);
    assert.equal(extension.extensionKind, vscode.ExtensionKind.Workspace);
    assert.equal(typeof process.versions.node, 'string', 'a Node extension host, not a web worker');
    suiteLog(`  extension at ${extension.extensionPath}, remoteName=${vscode.env.remoteName ?? '(local)'}, uiKind=${vscode.env.uiKind}, appHost=${vscode.env.appHost}`);
  });

  it('returns the public API: download, list, pause, resume, cancel, onDidChange', async () => {
    const api = (await activatedExtension()).exports;
    for (const method of ['download', 'list', 'pause', 'resume', 'cancel', 'onDidChange'] as const) {
      assert.equal(typeof api[method], 'function', `exports.${method}`);
    }
    assert.ok(Array.isArray(api.list()));
  });

  it('registers every command package.json contributes', async () => {
    const extension = await activatedExtension();
    const contributed = (extension.packageJSON.contributes.commands as ContributedCommand[]).map((entry) => entry.command);
    assert.ok(contributed.length >= 15, `only ${contributed.length} commands contributed`);
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.filter((id) => !registered.has(id));
    assert.deepEqual(missing, [], 'contributed commands without a handler');
  });

  it('contributes the Artifact Fetch view container and the Downloads view, and can focus them', async () => {
    const extension = await activatedExtension();
    const views = extension.packageJSON.contributes.views.artifactFetch as Array<{ id: string }>;
    assert.deepEqual(views.map((view) => view.id), ['artifactFetch.downloads']);
    const registered = new Set(await vscode.commands.getCommands(false));
    // VS Code generates these commands only for registered containers and views.
    assert.ok(registered.has('workbench.view.extension.artifactFetch'), 'view container command');
    assert.ok(registered.has('artifactFetch.downloads.focus'), 'view focus command');
    await vscode.commands.executeCommand('workbench.view.extension.artifactFetch');
    await vscode.commands.executeCommand('artifactFetch.downloads.focus');
  });

  it('shows its log channel on artifactFetch.showLog', async () => {
    await vscode.commands.executeCommand('artifactFetch.showLog');
  });
});
