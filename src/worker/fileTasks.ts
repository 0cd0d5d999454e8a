import { promises as fs } from 'node:fs';
import { ErrorCode, FetchError, toFetchError } from '../engine/errors';
import type { SourceSpec } from '../engine/jobOptions';
import { sha256FromHeaders } from '../engine/headers/digestHeaders';
import { parseLinkMirrors } from '../engine/headers/linkMirrors';
import { HttpTransport, originOf } from '../engine/httpTransport';
import { verifyFile } from '../engine/integrity/fileVerifier';
import { createManifest, parseManifest, serializeManifest } from '../engine/integrity/manifest';
import { expectationFromManifest, loadTrustedManifest } from '../engine/integrity/manifestLoader';
import { parseMetalink } from '../engine/metalink/metalinkParser';
import { registerSecret } from '../engine/security/redaction';
import type { ParamsOf, ResultOf } from '../protocol/messages';
import type { RequestHandlers } from './requestDispatcher';

/** Metalink and manifest files are small; anything bigger is refused before it is read. */
const MAX_DESCRIPTOR_BYTES = 64 * 1024 * 1024;

/** RFC 5854/6249 `pri` is 1..999999 with lower preferred; SourceSpec.priority is higher-preferred (same mapping as the engine). */
function priorityFromPri(pri: number | undefined): number {
  return pri !== undefined ? 100 - pri : 0;
}

/** A SourceSpec without undefined fields (they would survive postMessage as explicit undefineds). */
function sourceSpec(url: string, origin: string, pri: number | undefined, location: string | undefined): SourceSpec {
  const spec: SourceSpec = { url, priority: priorityFromPri(pri) };
  if (location) spec.location = location;
  spec.origin = origin;
  return spec;
}

/** Probes the primary with a one-byte range and lists the mirrors its Link headers announce. */
async function discoverMirrors({ url, headers, proxy }: ParamsOf<'discoverMirrors'>): Promise<ResultOf<'discoverMirrors'>> {
  // DownloadJob registers its tokens itself; this probe runs without one, so it must do the same.
  for (const value of Object.values(headers ?? {})) registerSecret(value);
  const transport = new HttpTransport({ originHeaders: headers ? { [originOf(url)]: headers } : undefined });
  try {
    const response = await transport.getRange(url, 0, 0, { proxy, allowWhole: true });
    // dump() reads at most the limit and closes the body quietly; destroy() would emit an
    // unhandled 'Request aborted' error that kills the worker.
    await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    const sources = parseLinkMirrors(response.headers.link, response.finalUrl).map((mirror) => sourceSpec(mirror.url, 'link-header', mirror.priority, mirror.geo));
    const discovery: ResultOf<'discoverMirrors'> = { sources };
    if (response.totalSize !== undefined) discovery.size = response.totalSize;
    const sha256 = sha256FromHeaders(response.headers);
    if (sha256) discovery.sha256 = sha256;
    return discovery;
  } catch (error) {
    throw toFetchError(error, ErrorCode.NoUsableSource);
  } finally {
    await transport.close();
  }
}

async function readSmallFile(path: string, what: string): Promise<string> {
  try {
    const { size } = await fs.stat(path);
    if (size > MAX_DESCRIPTOR_BYTES) throw new FetchError(ErrorCode.BadArguments, `${what} ${path} is larger than ${MAX_DESCRIPTOR_BYTES} bytes`);
    return await fs.readFile(path, 'utf8');
  } catch (error) {
    throw toFetchError(error, ErrorCode.BadArguments);
  }
}

/** Reads a Metalink file and keeps its first file that has an http(s) location. */
async function readMetalink({ path }: ParamsOf<'readMetalink'>): Promise<ResultOf<'readMetalink'>> {
  const files = parseMetalink(await readSmallFile(path, 'metalink'));
  for (const file of files) {
    const sources = file.urls
      .filter((entry) => /^https?:\/\//i.test(entry.url))
      .map((entry) => sourceSpec(entry.url, 'metalink', entry.priority, entry.location));
    if (sources.length === 0) continue;
    const plan: ResultOf<'readMetalink'> = { fileName: file.name, sources };
    if (file.sha256 || file.size !== undefined) plan.expected = {};
    if (file.sha256) plan.expected!.sha256 = file.sha256;
    if (file.size !== undefined) plan.expected!.size = file.size;
    return plan;
  }
  throw new FetchError(ErrorCode.BadArguments, 'the metalink names no file with an http or https location');
}

/** Loads a manifest for a download, trusted only by origin (the primary's, over HTTPS) or by a pinned root. */
async function readManifest({ reference, primaryUrl, root }: ParamsOf<'readManifest'>): Promise<ResultOf<'readManifest'>> {
  const manifest = await loadTrustedManifest(reference, { primaryUrl, root });
  return { name: manifest.name, expected: expectationFromManifest(manifest) };
}

/** Hashes a file and writes `<file>.manifest.json` next to it (the CLI's convention). */
async function writeManifest({ path, pieceSize }: ParamsOf<'createManifest'>): Promise<ResultOf<'createManifest'>> {
  const manifest = await createManifest(path, pieceSize);
  const manifestPath = `${path}.manifest.json`;
  try {
    await fs.writeFile(manifestPath, serializeManifest(manifest));
  } catch (error) {
    throw toFetchError(error, ErrorCode.Disk);
  }
  return { manifestPath, size: manifest.size, pieceSize: manifest.pieceSize, sha256: manifest.sha256 ?? '', root: manifest.root };
}

/** Checks a file against a manifest file and/or an expected identity. */
async function checkFile({ path, manifestPath, expected }: ParamsOf<'verifyFile'>): Promise<ResultOf<'verifyFile'>> {
  const manifest = manifestPath ? parseManifest(await readSmallFile(manifestPath, 'manifest')) : undefined;
  const verification = await verifyFile(path, {
    manifest,
    sha256: expected?.sha256,
    root: expected?.root,
    pieceSize: expected?.pieceSize,
    size: expected?.size,
  });
  return {
    ok: verification.ok,
    size: verification.size,
    sha256: verification.sha256,
    root: verification.root,
    badPieces: verification.badPieces,
    message: verification.message,
  };
}

/** The worker's handlers for one-off file and probe tasks (everything that is not a download job). */
export const fileTaskHandlers: Pick<RequestHandlers, 'discoverMirrors' | 'readMetalink' | 'readManifest' | 'createManifest' | 'verifyFile'> = {
  discoverMirrors,
  readMetalink,
  readManifest,
  createManifest: writeManifest,
  verifyFile: checkFile,
};
