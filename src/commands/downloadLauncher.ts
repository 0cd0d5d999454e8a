import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { ErrorCode, FetchError } from '../engine/errors';
import type { ExpectedIdentity, JobOptions, SourceSpec } from '../engine/jobOptions';
import { nameFromUrl } from '../engine/security/pathSafety';
import { readDownloadSettings } from '../config/downloadSettings';
import { jobTuning } from '../config/engineSettings';
import type { HostConsent } from '../config/hostConsent';
import { hostOfUrl } from '../config/hostTrust';
import { withProxyRoutes } from '../config/proxyRoutes';
import { prepareTargetFolders, resolveTarget } from '../config/targetLocation';
import type { DownloadController } from '../model/downloadController';
import type { DownloadOrigin } from '../model/downloadRecord';
import type { DownloadStore } from '../model/downloadStore';
import type { ExtensionLog } from '../views/extensionLog';

/** Everything needed to start one download, gathered by a command, the API or the URI handler. */
export interface DownloadPlan {
  /** Sources of the same artifact, primary first (mirrors from settings already added if wanted). */
  sources: SourceSpec[];
  /** File name; default: the primary URL's last path segment. */
  fileName?: string;
  /** Folder relative to the workspace folder; default `artifactFetch.downloadFolder`. */
  folder?: string;
  /** Default: the only workspace folder, or the one the user picks. */
  workspaceFolder?: vscode.WorkspaceFolder;
  expected?: ExpectedIdentity;
  /** Replace an existing file without asking (the caller asked already). */
  overwrite?: boolean;
  /** Let the engine add mirrors from the primary's Link headers (false once the user confirmed a list). */
  useLinkHeaderMirrors?: boolean;
  origin: DownloadOrigin;
  /** The user just confirmed these exact hosts in another prompt (the URI handler's). */
  hostsConfirmed?: boolean;
}

/** Thrown when the user said no somewhere along the way; not an error worth a message. */
export class DownloadDeclined extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'DownloadDeclined';
  }
}

/**
 * Turns a plan into a running download: picks the workspace folder, applies settings (tuning,
 * proxy routes), asks for host consent and before replacing a file, resolves the target inside
 * the workspace through the path gate, and hands the job to the controller.
 */
export class DownloadLauncher {
  constructor(
    private readonly controller: DownloadController,
    private readonly store: DownloadStore,
    private readonly consent: HostConsent,
    private readonly log: ExtensionLog,
    private readonly notify: (downloadId: string) => void,
  ) {}

  /** Starts the download and returns its id; throws DownloadDeclined or a FetchError. */
  async launch(plan: DownloadPlan): Promise<string> {
    const primary = plan.sources[0];
    if (!primary) throw new FetchError(ErrorCode.BadArguments, 'no URL to download');
    const folder = plan.workspaceFolder ?? await pickWorkspaceFolder();
    const settings = readDownloadSettings(folder.uri);
    for (const problem of settings.problems) this.log.write('warn', `settings: ${problem}`);
    if (!settings.proxy.strictSSL) this.log.write('warn', 'http.proxyStrictSSL is off; Artifact Fetch still verifies every TLS certificate');

    const urls = plan.sources.map((source) => source.url);
    if (plan.hostsConfirmed) await this.consent.remember(urls.map(hostOfUrl));
    else if (!await this.consent.confirm(urls, settings.userLevelHosts)) throw new DownloadDeclined('host not confirmed');

    const fileName = plan.fileName ?? nameFromUrl(primary.url);
    if (!fileName) throw new FetchError(ErrorCode.BadArguments, `cannot tell a file name from ${primary.url}; give one`);
    const target = resolveTarget(folder.uri.fsPath, plan.folder ?? settings.downloadFolder, fileName);
    if (this.store.unfinishedDownloadTo(target.outputPath)) {
      throw new FetchError(ErrorCode.Locked, `${vscode.workspace.asRelativePath(target.outputPath)} is already being downloaded`);
    }
    let overwrite = plan.overwrite ?? false;
    if (!overwrite && fs.existsSync(target.outputPath)) {
      const replace = 'Replace';
      const answer = await vscode.window.showWarningMessage(
        `${vscode.workspace.asRelativePath(target.outputPath)} already exists. Replace it once the download is verified?`,
        { modal: true },
        replace,
      );
      if (answer !== replace) throw new DownloadDeclined('target exists');
      overwrite = true;
    }
    prepareTargetFolders(target);

    const options: JobOptions = {
      ...jobTuning(settings.engine),
      sources: withProxyRoutes(plan.sources, settings.proxy),
      outputPath: target.outputPath,
      stateDir: target.stateDir,
      overwrite,
      useLinkHeaderMirrors: plan.useLinkHeaderMirrors ?? true,
    };
    if (plan.expected) options.expected = plan.expected;
    const id = this.controller.start({ name: fileName, options, origin: plan.origin });
    if (plan.origin === 'palette' || plan.origin === 'metalink') this.notify(id);
    return id;
  }
}

/** The workspace folder downloads land in: the only one, or the one the user picks. */
export async function pickWorkspaceFolder(): Promise<vscode.WorkspaceFolder> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) throw new FetchError(ErrorCode.UnsafePath, 'open a folder first: downloads land inside a workspace folder');
  if (folders.length === 1) return folders[0];
  const picked = await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Workspace folder to download into' });
  if (!picked) throw new DownloadDeclined('no workspace folder picked');
  return picked;
}
