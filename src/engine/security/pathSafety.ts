/**
 * The ONE gate for every name that comes from outside (Content-Disposition, URLs, manifests,
 * metalinks, settings). Rules are the union of POSIX and Windows ones on every OS, because a file
 * written on Linux is often opened later on Windows (and a server does not know where we run).
 * See /work/shared/RELIABILITY.md F01 (path traversal) and F05 (planted symlinks).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCode, FetchError } from '../errors';
import { parseContentDisposition } from '../headers/contentDisposition';

/** Folders no download may write into unless the caller passes its own list. */
export const DEFAULT_DENIED_FOLDERS: readonly string[] = ['.git', '.vscode'];

/** Longest name accepted, in UTF-8 bytes (the common NAME_MAX of ext4, APFS, NTFS). */
const MAX_NAME_BYTES = 255;

// C0 and C1 controls: NUL truncates names in C APIs, newlines forge log lines.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
// Bidirectional overrides can disguise an extension ("exe.txt" shown for "txt.exe").
const BIDI_CONTROLS = /[\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
// Real separators plus look-alikes that Windows "best fit" code pages turn into real ones.
const SEPARATORS = /[/\\\uff0f\uff3c\u2215\u2216\u29f8\u29f9\ufe68]/;
// Dot look-alikes that best-fit mapping turns into '.', which would make "．．" mean "..".
const DOT_LOOKALIKES = /[\uff0e\u2024\ufe52]/g;
// Characters Windows forbids in names; ':' also covers drive letters and NTFS streams.
const WINDOWS_FORBIDDEN = /[<>:"|?*\uff1a]/g;
// DOS device names, reserved with any extension ("CON.txt") and in any case.
const RESERVED_DOS_NAMES = new Set([
  'CON', 'PRN', 'AUX', 'NUL', 'CONIN$', 'CONOUT$', 'CLOCK$',
  ...[...'0123456789\u00b9\u00b2\u00b3'].flatMap((d) => [`COM${d}`, `LPT${d}`]),
]);

function unsafe(message: string): FetchError {
  return new FetchError(ErrorCode.UnsafePath, message);
}

function show(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
}

/**
 * Reduces an outside name to a safe basename, or throws FetchError(UnsafePath).
 * Strips: every directory part (both `/` and `\`, so `..\..\x`, `C:\Windows\x`, `\\host\share\x`
 * and `folder/C:\x` all become `x`; Unicode look-alikes of `/`, `\` and `.` count as the real
 * ones, as Windows "best fit" conversion would make them), leading spaces, and trailing dots
 * and spaces (Windows drops them, so `x.` would alias `x`). Replaces `<>:"|?*` with `_`
 * (drive-relative `D:x`, NTFS streams `x:stream`).
 * Rejects: control characters (NUL included), bidi overrides, DOS device names (CON, NUL, COM1,
 * LPT1, ... with any extension), names that end up empty, `.` or `..`, and names over 255 bytes.
 */
export function safeFileName(name: string): string {
  if (typeof name !== 'string') throw unsafe('file name is not a string');
  if (CONTROL_CHARS.test(name)) throw unsafe(`file name ${show(name)} contains control characters`);
  if (BIDI_CONTROLS.test(name)) throw unsafe(`file name ${show(name)} contains bidirectional override characters`);
  const parts = name.replace(DOT_LOOKALIKES, '.').split(SEPARATORS);
  let base = parts[parts.length - 1];
  base = base.replace(WINDOWS_FORBIDDEN, '_').replace(/^\s+/, '').replace(/[. ]+$/, '');
  if (base === '' || base === '.' || base === '..') throw unsafe(`file name ${show(name)} has no usable base name`);
  const stem = base.split('.')[0].trimEnd().toUpperCase();
  if (RESERVED_DOS_NAMES.has(stem)) throw unsafe(`file name ${show(name)} is a reserved Windows device name`);
  if (Buffer.byteLength(base, 'utf8') > MAX_NAME_BYTES) throw unsafe(`file name ${show(name)} is longer than ${MAX_NAME_BYTES} bytes`);
  return base;
}

/** True when `name` is already a safe basename, i.e. `safeFileName` would return it unchanged. */
export function isSafeFileName(name: string): boolean {
  try {
    return safeFileName(name) === name;
  } catch {
    return false;
  }
}

function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** Options of `resolveInsideFolder`. */
export interface ResolveOptions {
  /** Folder names refused at any depth, compared case-insensitively. Default `.git`, `.vscode`. */
  deny?: readonly string[];
}

/**
 * Resolves an outside relative path (e.g. `sub/file.bin`) inside `root`, or throws
 * FetchError(UnsafePath). Every component must be a safe name (see `safeFileName`; unlike it,
 * nothing is stripped here: `..`, absolute, drive and UNC paths are refused outright) and none
 * may be a denied folder. Each existing component below root is `lstat`ed and refused if it is a
 * symbolic link (or junction), and the realpath of the deepest existing ancestor must lie inside
 * realpath(root). Returns the absolute path under realpath(root). Callers still open with
 * `O_EXCL | O_NOFOLLOW`, since the tree can change after this check.
 */
export function resolveInsideFolder(root: string, relativePath: string, options: ResolveOptions = {}): string {
  if (typeof relativePath !== 'string' || relativePath.trim() === '') throw unsafe('path is empty');
  if (CONTROL_CHARS.test(relativePath)) throw unsafe(`path ${show(relativePath)} contains control characters`);
  if (/^[/\\]/.test(relativePath)) throw unsafe(`path ${show(relativePath)} is absolute`);
  if (/^[A-Za-z]:/.test(relativePath)) throw unsafe(`path ${show(relativePath)} starts with a drive letter`);

  const segments = relativePath.split(SEPARATORS).filter((s) => s !== '' && s !== '.');
  if (segments.length === 0) throw unsafe(`path ${show(relativePath)} names the folder itself`);
  const denied = new Set((options.deny ?? DEFAULT_DENIED_FOLDERS).map((d) => d.toLowerCase()));
  for (const segment of segments) {
    if (segment === '..') throw unsafe(`path ${show(relativePath)} climbs out with ".."`);
    if (!isSafeFileName(segment)) {
      try {
        safeFileName(segment);
      } catch (error) {
        throw unsafe(`path ${show(relativePath)}: ${(error as Error).message}`);
      }
      throw unsafe(`path ${show(relativePath)}: component ${show(segment)} is not a safe name`);
    }
    if (denied.has(segment.toLowerCase())) throw unsafe(`path ${show(relativePath)} enters the protected folder ${show(segment)}`);
  }

  let realRoot: string;
  try {
    realRoot = fs.realpathSync(path.resolve(root));
  } catch {
    throw unsafe(`target folder ${show(root)} does not exist`);
  }

  let deepestExisting = realRoot;
  for (let i = 0; i < segments.length; i++) {
    const candidate = path.join(deepestExisting, segments[i]);
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(candidate);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') break;
      throw unsafe(`cannot inspect ${show(segments.slice(0, i + 1).join('/'))}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    const shown = show(segments.slice(0, i + 1).join('/'));
    if (stat.isSymbolicLink()) throw unsafe(`${shown} inside the target folder is a symbolic link`);
    if (i < segments.length - 1 && !stat.isDirectory()) throw unsafe(`${shown} inside the target folder is not a folder`);
    deepestExisting = candidate;
  }
  // Belt and braces: containment by realpath, in case something the lstat walk cannot see
  // (a bind mount, a race) moved the ancestor.
  if (!isInside(realRoot, fs.realpathSync(deepestExisting))) {
    throw unsafe(`path ${show(relativePath)} resolves outside the target folder`);
  }
  const resolved = path.join(realRoot, ...segments);
  if (!isInside(realRoot, resolved) || resolved === realRoot) {
    throw unsafe(`path ${show(relativePath)} resolves outside the target folder`);
  }
  return resolved;
}

/**
 * Safe file name from a URL's last path segment (percent-decoded), or undefined when the URL has
 * none (`https://host/`, `.../dir/`) or it is unusable (e.g. `CON`).
 */
export function nameFromUrl(url: string): string | undefined {
  let pathname: string;
  try {
    pathname = new URL(url).pathname;
  } catch {
    return undefined;
  }
  const last = pathname.slice(pathname.lastIndexOf('/') + 1);
  if (!last) return undefined;
  let decoded = last;
  try {
    decoded = decodeURIComponent(last);
  } catch {
    // Keep the raw segment: a stray '%' is not a reason to lose the name.
  }
  try {
    return safeFileName(decoded);
  } catch {
    return undefined;
  }
}

/**
 * Safe file name from a `Content-Disposition` header (RFC 6266, `filename*=UTF-8''...` preferred),
 * or undefined when there is none or nothing safe remains, so the caller falls back to the URL.
 */
export function nameFromContentDisposition(header: string | undefined | null): string | undefined {
  const filename = parseContentDisposition(header)?.filename;
  if (filename === undefined) return undefined;
  try {
    return safeFileName(filename);
  } catch {
    return undefined;
  }
}
