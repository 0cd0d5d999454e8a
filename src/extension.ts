import * as vscode from 'vscode';
import { AccessTokens } from './config/accessTokens';
import { HostConsent } from './config/hostConsent';
import { originHeadersFor } from './config/originHeaders';
import { DOWNLOADS_VIEW_ID } from './commands/commandIds';
import { DownloadLauncher } from './commands/downloadLauncher';
import { DownloadUriHandler } from './commands/downloadUriHandler';
import { createPublicApi, type ArtifactFetchApi } from './commands/publicApi';
import { registerCommands } from './commands/registerCommands';
import { SettingsCredentialsPrompt } from './commands/settingsCredentialsPrompt';
import { DownloadController } from './model/downloadController';
import { DownloadPersistence } from './model/downloadPersistence';
import { DownloadStore } from './model/downloadStore';
import { DownloadProgress } from './views/downloadProgress';
import { DownloadTreeProvider } from './views/downloadTreeProvider';
import { ExtensionLog } from './views/extensionLog';
import { ThroughputStatusBar } from './views/throughputStatusBar';
import { EngineClient } from './worker/engineClient';

let client: EngineClient | undefined;
let persistence: DownloadPersistence | undefined;

/** Wires the store, the worker client, the views and the commands together; returns the public API. */
export function activate(context: vscode.ExtensionContext): ArtifactFetchApi {
  const log = new ExtensionLog();
  const store = new DownloadStore();
  client = new EngineClient({ workerPath: context.asAbsolutePath('dist/worker.js') });
  const tokens = new AccessTokens(context.secrets, context.globalState);
  void tokens.registerAllWithRedactor();
  const controller = new DownloadController({
    store,
    engine: client,
    originHeadersFor: (options) => originHeadersFor(options.sources, (origin) => tokens.get(origin)),
    log: (level, message) => log.write(level, message),
  });
  persistence = new DownloadPersistence(store, context.workspaceState);
  persistence.restore();
  const tree = new DownloadTreeProvider(store);
  const progress = new DownloadProgress(store, (id) => void controller.cancel(id, false));
  // Credentials pasted into mirror URLs in settings.json: flagged, never used, offered to move.
  const credentialsPrompt = new SettingsCredentialsPrompt(tokens, log);
  void credentialsPrompt.check();
  const launcher = new DownloadLauncher(controller, store, new HostConsent(context.globalState), log, (id) => progress.notify(id));

  context.subscriptions.push(
    log,
    { dispose: () => store.dispose() },
    { dispose: () => controller.dispose() },
    persistence,
    credentialsPrompt,
    tree,
    vscode.window.createTreeView(DOWNLOADS_VIEW_ID, { treeDataProvider: tree, showCollapseAll: true }),
    new ThroughputStatusBar(store),
    progress,
    vscode.window.registerUriHandler(new DownloadUriHandler(launcher, log)),
    ...registerCommands({ store, controller, launcher, client, tokens, log }),
  );
  log.write('info', `Artifact Fetch ${context.extension.packageJSON.version ?? ''} activated; engine worker starts with the first download`);
  const engine = client;
  return createPublicApi(store, controller, launcher, (id) => engine.openStreamUrl(id));
}

/** Lets the worker save its journals (downloads resume next time), then stops it. */
export async function deactivate(): Promise<void> {
  persistence?.freeze();
  await client?.dispose();
  client = undefined;
}
