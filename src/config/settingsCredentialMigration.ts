/**
 * Moves credentials out of `artifactFetch.mirrors` in settings.json. A mirror token from user
 * settings goes to SecretStorage, bound to the mirror's exact origin; every credential is then
 * removed from the setting it was in. Workspace files are shared with the repository: their
 * credentials are removed but never read into SecretStorage (a cloned repo must not be able to
 * plant a token that the extension then sends).
 */
import { findMirrorSettingCredentials, stripMirrorSettingCredentials, type SettingsCredential, type SettingsScope } from './settingsCredentials';

/** One settings file's value of `artifactFetch.mirrors`, and how to write it back. */
export interface MirrorSettingFile {
  scope: SettingsScope;
  read(): unknown;
  write(value: unknown): Thenable<void>;
}

/** Where moved tokens go (AccessTokens: SecretStorage, sent to that exact origin only). */
export interface TokenStore {
  get(origin: string): Promise<string | undefined>;
  set(origin: string, token: string): Promise<void>;
}

export interface CredentialMigrationReport {
  /** Origins whose token now lives in SecretStorage. */
  moved: string[];
  /** Credentials removed from settings (moved or not). */
  removed: number;
  /** Origins that already had a different stored token: it was kept, the settings one dropped. */
  kept: string[];
}

/** Every credential in the files' values of the mirrors setting. */
export function credentialsInSettingFiles(files: readonly MirrorSettingFile[]): SettingsCredential[] {
  return files.flatMap((file) => findMirrorSettingCredentials(file.read(), file.scope));
}

/** Moves user-settings mirror tokens to `tokens`, then removes every credential from every file. */
export async function moveSettingsCredentials(files: readonly MirrorSettingFile[], tokens: TokenStore): Promise<CredentialMigrationReport> {
  const report: CredentialMigrationReport = { moved: [], removed: 0, kept: [] };
  for (const file of files) {
    const value = file.read();
    const found = findMirrorSettingCredentials(value, file.scope);
    if (found.length === 0) continue;
    if (file.scope === 'user') {
      for (const credential of found) {
        if (credential.proxy || report.moved.includes(credential.origin) || report.kept.includes(credential.origin)) continue;
        const stored = await tokens.get(credential.origin);
        if (stored && stored !== credential.secret) {
          report.kept.push(credential.origin);
          continue;
        }
        await tokens.set(credential.origin, credential.secret);
        report.moved.push(credential.origin);
      }
    }
    // Written only after the tokens are safe: a failed store leaves the setting as it was.
    await file.write(stripMirrorSettingCredentials(value));
    report.removed += found.length;
  }
  return report;
}
