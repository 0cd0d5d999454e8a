import * as vscode from 'vscode';
import { registerSecret } from '../engine/security/redaction';

const SECRET_PREFIX = 'artifactFetch.token:';
/** The list of origins that have a token (not secret; SecretStorage cannot enumerate its keys). */
const ORIGINS_KEY = 'artifactFetch.tokenOrigins';

/**
 * Access tokens per exact origin, kept only in VS Code's SecretStorage. Every token read or
 * written is registered with the redactor first, so no log line can carry it.
 */
export class AccessTokens {
  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly globalState: vscode.Memento,
  ) {}

  /** The token for `origin` (`https://host[:port]`), if one was set. */
  async get(origin: string): Promise<string | undefined> {
    if (!this.origins().includes(origin)) return undefined;
    const token = await this.secrets.get(SECRET_PREFIX + origin);
    if (token) registerSecret(token);
    return token || undefined;
  }

  async set(origin: string, token: string): Promise<void> {
    registerSecret(token);
    await this.secrets.store(SECRET_PREFIX + origin, token);
    const origins = new Set(this.origins());
    origins.add(origin);
    await this.globalState.update(ORIGINS_KEY, [...origins].sort());
  }

  async delete(origin: string): Promise<void> {
    await this.secrets.delete(SECRET_PREFIX + origin);
    await this.globalState.update(ORIGINS_KEY, this.origins().filter((known) => known !== origin));
  }

  /** Origins with a stored token. */
  origins(): string[] {
    const stored = this.globalState.get<unknown>(ORIGINS_KEY);
    return Array.isArray(stored) ? stored.filter((origin): origin is string => typeof origin === 'string') : [];
  }

  /** Registers every stored token with the redactor (called once at activation). */
  async registerAllWithRedactor(): Promise<void> {
    await Promise.all(this.origins().map((origin) => this.get(origin)));
  }
}
