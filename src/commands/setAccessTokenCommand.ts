import * as vscode from 'vscode';
import type { AccessTokens } from '../config/accessTokens';
import { normalizeOrigin } from '../config/originHeaders';
import type { ExtensionLog } from '../views/extensionLog';

/**
 * "Set Access Token for Host…": stores a bearer token for one exact origin in SecretStorage. The
 * engine sends it only to that origin. An empty token removes it.
 */
export class SetAccessTokenCommand {
  constructor(
    private readonly tokens: AccessTokens,
    private readonly log: ExtensionLog,
  ) {}

  async run(): Promise<void> {
    const known = this.tokens.origins();
    const input = await vscode.window.showInputBox({
      title: 'Set Access Token for Host',
      prompt: known.length > 0 ? `Origin such as https://huggingface.co (tokens are set for: ${known.join(', ')})` : 'Origin such as https://huggingface.co',
      placeHolder: 'https://host[:port]',
      ignoreFocusOut: true,
      validateInput: (value) => (normalizeOrigin(value) ? undefined : 'Enter an http(s) origin, e.g. https://example.com'),
    });
    const origin = input ? normalizeOrigin(input) : undefined;
    if (!origin) return;
    const token = await vscode.window.showInputBox({
      title: `Access Token for ${origin}`,
      prompt: 'Sent as "Authorization: Bearer <token>" to this origin only. Leave empty to remove the stored token.',
      password: true,
      ignoreFocusOut: true,
    });
    if (token === undefined) return;
    if (token.trim() === '') {
      await this.tokens.delete(origin);
      this.log.write('info', `access token for ${origin} removed`);
      void vscode.window.showInformationMessage(`Removed the access token for ${origin}.`);
      return;
    }
    await this.tokens.set(origin, token.trim());
    this.log.write('info', `access token for ${origin} stored in SecretStorage`);
    void vscode.window.showInformationMessage(`Stored the access token for ${origin}.`);
  }
}
