import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveInsideFolder, safeFileName } from '../engine/security/pathSafety';

/** Hidden folder inside the workspace folder for `.part` files, journals and locks. */
export const STATE_FOLDER = '.artifact-fetch';

/** Folders a download may never land in. */
export const DENIED_TARGET_FOLDERS: readonly string[] = ['.git', '.vscode', STATE_FOLDER];

/** Where one download lands and keeps its partial state. */
export interface TargetLocation {
  /** Absolute final path (inside the workspace folder). */
  outputPath: string;
  /** Absolute folder for the engine's .part, journal and lock files. */
  stateDir: string;
}

/**
 * Resolves `<workspaceFolder>/<folder>/<fileName>` through the path gate: the result is inside
 * the workspace folder, in no `.git`, `.vscode` or state folder, with no symlink on the way, and
 * the name is a safe base name. Throws FetchError(UnsafePath) otherwise.
 */
export function resolveTarget(workspaceFolder: string, folder: string, fileName: string): TargetLocation {
  const name = safeFileName(fileName);
  const relativeFolder = folder.trim().replace(/^\.[/\\]+/, '').replace(/[/\\]+$/, '');
  const relativePath = relativeFolder && relativeFolder !== '.' ? `${relativeFolder}/${name}` : name;
  const outputPath = resolveInsideFolder(workspaceFolder, relativePath, { deny: DENIED_TARGET_FOLDERS });
  const stateDir = path.join(fs.realpathSync(workspaceFolder), STATE_FOLDER);
  return { outputPath, stateDir };
}

/**
 * Creates the target's folder and the state folder, the latter with a `.gitignore` of `*` so
 * partial downloads never get committed.
 */
export function prepareTargetFolders({ outputPath, stateDir }: TargetLocation): void {
  fs.mkdirSync(path.dirname(outputPath), { recursive: true });
  fs.mkdirSync(stateDir, { recursive: true });
  const ignore = path.join(stateDir, '.gitignore');
  if (!fs.existsSync(ignore)) fs.writeFileSync(ignore, '*\n');
}
