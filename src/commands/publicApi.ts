import type { Readable } from 'node:stream';
import type * as vscode from 'vscode';
import { readDownloadSettings } from '../config/downloadSettings';
import { sourcesForUrl } from '../config/mirrorRules';
import { ErrorCode, toFetchError } from '../engine/errors';
import type { SourceSpec } from '../engine/jobOptions';
import type { DownloadResult } from '../engine/snapshot';
import type { DownloadController } from '../model/downloadController';
import { downloadInfo, type DownloadInfo } from '../model/downloadInfo';
import type { DownloadChange, DownloadStore } from '../model/downloadStore';
import { failedResult } from '../worker/failedResult';
import { readStreamUrl } from '../worker/streamUrlReader';
import { DownloadDeclined, pickWorkspaceFolder, type DownloadLauncher } from './downloadLauncher';

/** What another extension may ask `download` for. */
export interface ApiDownloadOptions {
  /** The primary URL. */
  url: string;
  /** More URLs of the same file. */
  mirrors?: string[];
  /** Also use the mirrors `artifactFetch.mirrors` lists for this URL (default true). */
  useSettingsMirrors?: boolean;
  /** Expected whole-file SHA-256, hex. */
  sha256?: string;
  /** Expected RFC 6962 Merkle root, hex, with the piece size it was built with. */
  root?: string;
  pieceSize?: number;
  /** File name (default: from the URL). */
  fileName?: string;
  /** Folder relative to the first workspace folder (default `artifactFetch.downloadFolder`). */
  folder?: string;
  /** Replace an existing file without asking. */
  overwrite?: boolean;
}

/** The API `activate()` returns to other extensions. */
export interface ArtifactFetchApi {
  /**
   * Downloads one artifact into the workspace. Never rejects: a refusal (declined host, unsafe
   * path, existing file not replaced) or a failure resolves with ok=false and an error code. An
   * interrupted download resolves with E_INTERRUPTED; it can still be resumed with `resume`.
   */
  download(options: ApiDownloadOptions): Promise<DownloadResult>;
  /** Every download in the list, oldest first. */
  list(): DownloadInfo[];
  pause(id: string): Promise<void>;
  /** Continues a paused download or restarts an interrupted one from its journal. */
  resume(id: string): Promise<void>;
  /** Stops a download; `discard` deletes its partial data. */
  cancel(id: string, discard?: boolean): Promise<void>;
  /**
   * The bytes of a running download in order, each only after it is verified (see the README for
   * what that means with only a SHA-256), read from its loopback stream URL while it downloads.
   * The Readable errors if the download fails; rejects when the download is not running.
   */
  openStream(id: string): Promise<Readable>;
  /** Fires for every change of the list: `added`, `removed`, `status` or `progress`, with the download id. */
  onDidChange: vscode.Event<DownloadChange>;
}

/** Builds the exported API on top of the launcher, the controller and the store. */
export function createPublicApi(
  store: DownloadStore,
  controller: DownloadController,
  launcher: DownloadLauncher,
  streamUrlOf: (id: string) => Promise<string>,
): ArtifactFetchApi {
  return {
    async download(options) {
      try {
        const folder = await pickWorkspaceFolder();
        const settings = readDownloadSettings(folder.uri);
        const sources: SourceSpec[] = options.useSettingsMirrors === false ? [{ url: options.url, origin: 'api' }] : sourcesForUrl(options.url, settings.rules);
        for (const mirror of options.mirrors ?? []) sources.push({ url: mirror, origin: 'api' });
        const id = await launcher.launch({
          sources,
          fileName: options.fileName,
          folder: options.folder,
          workspaceFolder: folder,
          expected: options.sha256 || options.root ? { sha256: options.sha256, root: options.root, pieceSize: options.pieceSize } : undefined,
          overwrite: options.overwrite,
          origin: 'api',
        });
        return await controller.whenFinished(id);
      } catch (error) {
        const failure = error instanceof DownloadDeclined ? { code: ErrorCode.Interrupted, message: `declined: ${error.message}` } : toFetchError(error);
        return failedResult({ sources: [], outputPath: '' }, { code: failure.code, message: failure.message });
      }
    },
    list: () => store.list().map(downloadInfo),
    pause: (id) => controller.pause(id),
    resume: (id) => controller.resume(id),
    cancel: (id, discard = false) => controller.cancel(id, discard),
    openStream: async (id) => readStreamUrl(await streamUrlOf(id)),
    onDidChange: store.onDidChange,
  };
}
