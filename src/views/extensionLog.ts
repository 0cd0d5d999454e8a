import * as vscode from 'vscode';
import { redactText } from '../engine/security/redaction';

/** Log levels of the extension's output channel. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/**
 * The "Artifact Fetch" log output channel. `write` is the one choke point: every line, from the
 * host or relayed from the worker, is passed through `redactText` before VS Code sees it.
 */
export class ExtensionLog implements vscode.Disposable {
  private readonly channel = vscode.window.createOutputChannel('Artifact Fetch', { log: true });

  /** Writes one redacted line at `level`. */
  write(level: LogLevel, message: string): void {
    const safe = redactText(message);
    switch (level) {
      case 'trace': this.channel.trace(safe); break;
      case 'debug': this.channel.debug(safe); break;
      case 'info': this.channel.info(safe); break;
      case 'warn': this.channel.warn(safe); break;
      case 'error': this.channel.error(safe); break;
    }
  }

  show(): void {
    this.channel.show(true);
  }

  dispose(): void {
    this.channel.dispose();
  }
}
