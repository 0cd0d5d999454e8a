import * as vscode from 'vscode';
import type { AccessTokens } from '../config/accessTokens';
import type { DownloadController } from '../model/downloadController';
import type { DownloadStore } from '../model/downloadStore';
import type { EngineClient } from '../worker/engineClient';
import type { ExtensionLog } from '../views/extensionLog';
import { CommandId } from './commandIds';
import { CopyStreamUrlCommand } from './copyStreamUrlCommand';
import { CreateManifestCommand } from './createManifestCommand';
import { DownloadActions } from './downloadActions';
import { DownloadArtifactCommand } from './downloadArtifactCommand';
import { DownloadFileActions } from './downloadFileActions';
import type { DownloadLauncher } from './downloadLauncher';
import { DownloadMetalinkCommand } from './downloadMetalinkCommand';
import { SetAccessTokenCommand } from './setAccessTokenCommand';
import { VerifyFileCommand } from './verifyFileCommand';

/** What the command handlers work with. */
export interface CommandServices {
  store: DownloadStore;
  controller: DownloadController;
  launcher: DownloadLauncher;
  client: EngineClient;
  tokens: AccessTokens;
  log: ExtensionLog;
}

/** Registers every command of package.json's `contributes.commands`; dispose the result to unregister. */
export function registerCommands(services: CommandServices): vscode.Disposable[] {
  const { store, controller, launcher, client, tokens, log } = services;
  const download = new DownloadArtifactCommand(client, tokens, launcher, log);
  const metalink = new DownloadMetalinkCommand(client, launcher, log);
  const manifest = new CreateManifestCommand(client, log);
  const verify = new VerifyFileCommand(client, log);
  const actions = new DownloadActions(store, controller, log);
  const files = new DownloadFileActions(store);
  const token = new SetAccessTokenCommand(tokens, log);
  const streamUrl = new CopyStreamUrlCommand(store, client, log);
  const handlers: Record<(typeof CommandId)[keyof typeof CommandId], (arg?: unknown) => unknown> = {
    [CommandId.download]: () => download.run(),
    [CommandId.downloadMetalink]: (arg) => metalink.run(arg instanceof vscode.Uri ? arg : undefined),
    [CommandId.createManifest]: (arg) => manifest.run(arg instanceof vscode.Uri ? arg : undefined),
    [CommandId.verifyFile]: (arg) => verify.run(arg instanceof vscode.Uri ? arg : undefined),
    [CommandId.pause]: (node) => actions.pause(node),
    [CommandId.resume]: (node) => actions.resume(node),
    [CommandId.cancel]: (node) => actions.cancel(node),
    [CommandId.retry]: (node) => actions.retry(node),
    [CommandId.remove]: (node) => actions.remove(node),
    [CommandId.openFile]: (node) => files.open(node),
    [CommandId.revealFile]: (node) => files.reveal(node),
    [CommandId.copySha256]: (node) => files.copySha256(node),
    [CommandId.copyMerkleRoot]: (node) => files.copyMerkleRoot(node),
    [CommandId.setAccessToken]: () => token.run(),
    [CommandId.showLog]: () => log.show(),
    [CommandId.copyStreamUrl]: (node) => streamUrl.run(node),
  };
  return Object.entries(handlers).map(([id, handler]) => vscode.commands.registerCommand(id, handler));
}
