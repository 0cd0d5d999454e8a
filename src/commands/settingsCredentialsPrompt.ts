import * as vscode from 'vscode';
import type { AccessTokens } from '../config/accessTokens';
import { credentialsInSettingFiles, moveSettingsCredentials, type MirrorSettingFile } from '../config/settingsCredentialMigration';
import { credentialWarning } from '../config/settingsCredentials';
import { CONFIG_SECTION, SettingKey } from '../config/settingKeys';
import { registerSecret } from '../engine/security/redaction';
import type { ExtensionLog } from '../views/extensionLog';

const MOVE = 'Move to Secret Storage';
const SHOW_LOG = 'Show Log';

/** The settings files that can hold `artifactFetch.mirrors`: user, workspace, each folder. */
function mirrorSettingFiles(): MirrorSettingFile[] {
  const files: MirrorSettingFile[] = [];
  const config = (scope?: vscode.Uri) => vscode.workspace.getConfiguration(CONFIG_SECTION, scope);
  files.push({ scope: 'user', read: () => config().inspect(SettingKey.mirrors)?.globalValue, write: (value) => config().update(SettingKey.mirrors, value, vscode.ConfigurationTarget.Global) });
  files.push({ scope: 'workspace', read: () => config().inspect(SettingKey.mirrors)?.workspaceValue, write: (value) => config().update(SettingKey.mirrors, value, vscode.ConfigurationTarget.Workspace) });
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    files.push({
      scope: 'workspaceFolder',
      read: () => config(folder.uri).inspect(SettingKey.mirrors)?.workspaceFolderValue,
      write: (value) => config(folder.uri).update(SettingKey.mirrors, value, vscode.ConfigurationTarget.WorkspaceFolder),
    });
  }
  return files;
}

/**
 * Watches `artifactFetch.mirrors` for credentials pasted into URLs (at activation and on every
 * change): logs where they are (never what), warns, and offers to move them to SecretStorage.
 */
export class SettingsCredentialsPrompt implements vscode.Disposable {
  private readonly watcher: vscode.Disposable;

  constructor(
    private readonly tokens: AccessTokens,
    private readonly log: ExtensionLog,
  ) {
    this.watcher = vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(`${CONFIG_SECTION}.${SettingKey.mirrors}`)) void this.check();
    });
  }

  async check(): Promise<void> {
    const files = mirrorSettingFiles();
    const found = credentialsInSettingFiles(files);
    if (found.length === 0) return;
    for (const credential of found) {
      registerSecret(credential.secret);
      this.log.write('warn', `settings: ${credentialWarning(credential)}`);
    }
    const choice = await vscode.window.showWarningMessage(
      `Artifact Fetch: ${found.length === 1 ? 'a credential is' : `${found.length} credentials are`} stored in artifactFetch.mirrors (settings.json is plain text, often synced or committed). They are not used. Move mirror tokens from user settings to Secret Storage and remove every credential from settings?`,
      MOVE,
      SHOW_LOG,
    );
    if (choice === SHOW_LOG) this.log.show();
    if (choice !== MOVE) return;
    const report = await moveSettingsCredentials(files, this.tokens);
    const kept = report.kept.length > 0 ? `; kept the token already stored for ${report.kept.join(', ')}` : '';
    this.log.write('info', `settings: removed ${report.removed} credential(s) from settings; moved to Secret Storage for ${report.moved.join(', ') || 'no origin'}${kept}`);
    void vscode.window.showInformationMessage(`Removed ${report.removed} credential(s) from settings${report.moved.length > 0 ? `; tokens for ${report.moved.join(', ')} are now in Secret Storage` : ''}.`);
  }

  dispose(): void {
    this.watcher.dispose();
  }
}
