import * as vscode from 'vscode';
import { toFetchError } from '../engine/errors';
import { redactText } from '../engine/security/redaction';
import type { ExtensionLog } from '../views/extensionLog';
import { DownloadDeclined } from './downloadLauncher';

/** Logs a command failure and shows it (redacted); a user's "no" is only logged. */
export function reportCommandError(log: ExtensionLog, what: string, error: unknown): void {
  if (error instanceof DownloadDeclined) {
    log.write('info', `${what}: ${error.message}`);
    return;
  }
  const failure = toFetchError(error);
  log.write('error', `${what}: ${failure.code}: ${failure.message}`);
  void vscode.window.showErrorMessage(`${what}: ${redactText(failure.message)}`);
}
