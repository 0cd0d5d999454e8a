/** Helpers for the extension-host suites: the activated API, settings, the workspace folder. */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { ArtifactFetchApi } from '../../src/commands/publicApi';
import type { Mirror } from '../harness/mirrorServer';

export const EXTENSION_ID = 'artifact-fetch.artifact-fetch';

/** The extension, activated; fails when VS Code did not load it from the development folder. */
export async function activatedExtension(): Promise<vscode.Extension<ArtifactFetchApi>> {
  const extension = vscode.extensions.getExtension<ArtifactFetchApi>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not loaded in this extension host`);
  await extension.activate();
  return extension;
}

/** The API `activate()` returned. */
export async function artifactFetchApi(): Promise<ArtifactFetchApi> {
  return (await activatedExtension()).exports;
}

/** The only workspace folder (the runners open exactly one). */
export function workspaceFolder(): vscode.WorkspaceFolder {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the runner opens one workspace folder');
  return folder;
}

export function settings(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration('artifactFetch', workspaceFolder().uri);
}

/**
 * Names the mirrors' hosts in a user-level `artifactFetch.mirrors` rule, so downloads from them
 * need no consent dialog (hosts in user settings are trusted). The rule's prefix path is one no
 * test downloads from, so it adds no mirror to any download.
 */
export async function trustHostsInUserSettings(mirrors: readonly Mirror[]): Promise<void> {
  const [first, ...rest] = mirrors;
  const rule = { prefix: `${first.origin}/e2e-trusted-hosts-only/`, mirrors: rest.map((mirror) => `${mirror.origin}/e2e-trusted-hosts-only/`) };
  await vscode.workspace.getConfiguration('artifactFetch').update('mirrors', [rule], vscode.ConfigurationTarget.Global);
}

/** Removes the extension's user- and workspace-level values the suites set. */
export async function resetSettings(keys: readonly string[] = ['mirrors', 'downloadFolder']): Promise<void> {
  const config = vscode.workspace.getConfiguration('artifactFetch');
  for (const key of keys) {
    if (config.inspect(key)?.globalValue !== undefined) await config.update(key, undefined, vscode.ConfigurationTarget.Global);
    if (vscode.workspace.isTrusted && config.inspect(key)?.workspaceValue !== undefined) await config.update(key, undefined, vscode.ConfigurationTarget.Workspace);
  }
}

/** Body bytes a mirror sent in answer to ranged GETs (probes and real segments alike). */
export function rangedBytesServed(mirror: Mirror): number {
  return mirror.requests.filter((request) => request.method === 'GET' && request.range).reduce((sum, request) => sum + request.bytesSent, 0);
}
