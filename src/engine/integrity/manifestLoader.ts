/**
 * Loads a manifest from a path or URL and decides whether it may be trusted. A manifest fetched
 * by URL is trusted only because its root matches one the user gave, or because it came from the
 * primary's own origin over HTTPS — never because a mirror said so.
 */
import { promises as fs } from 'node:fs';
import { ErrorCode, FetchError } from '../errors';
import { redactUrl } from '../security/redaction';
import { discardBody } from '../httpTransport';
import { requestOnce } from '../undiciParts';
import type { ExpectedIdentity } from '../jobOptions';
import { parseManifest, type Manifest } from './manifest';

/** Manifests larger than this are refused (a 1 TiB file with 16 KiB pieces has ~4 GB of hex leaves; real ones are far smaller). */
const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;

export async function loadTrustedManifest(reference: string, trust: { primaryUrl: string; root?: string; ca?: string | string[] }): Promise<Manifest> {
  const isUrl = /^https?:\/\//i.test(reference);
  const text = isUrl ? await fetchText(reference) : await fs.readFile(reference, 'utf8').catch((error: Error) => {
    throw new FetchError(ErrorCode.BadArguments, `cannot read the manifest ${reference}: ${error.message}`);
  });
  let manifest: Manifest;
  try {
    manifest = parseManifest(text);
  } catch (error) {
    // A manifest fetched from a URL is the trust source, not the user's input: a bad one fails closed.
    if (!isUrl) throw error;
    throw new FetchError(ErrorCode.VerificationFailed, `verification failed: the manifest at ${redactUrl(reference)} is malformed: ${(error as Error).message}`);
  }
  if (trust.root && trust.root.toLowerCase() !== manifest.root.toLowerCase()) {
    throw new FetchError(ErrorCode.VerificationFailed, `verification failed: the manifest's root ${manifest.root} differs from the given root ${trust.root.toLowerCase()}`);
  }
  if (isUrl && !trust.root) {
    const manifestUrl = new URL(reference);
    const primary = new URL(trust.primaryUrl);
    if (manifestUrl.protocol !== 'https:' || manifestUrl.origin !== primary.origin) {
      throw new FetchError(
        ErrorCode.VerificationFailed,
        `the manifest at ${redactUrl(reference)} is not trusted: it must come from the primary's origin over HTTPS, or its root must be given with --root`,
      );
    }
  }
  return manifest;
}

/** The expected identity a manifest commits to. */
export function expectationFromManifest(manifest: Manifest): ExpectedIdentity {
  return { size: manifest.size, pieceSize: manifest.pieceSize, root: manifest.root, sha256: manifest.sha256, leaves: manifest.leaves };
}

async function fetchText(url: string): Promise<string> {
  let response;
  try {
    response = await requestOnce(url, { method: 'GET', headers: { 'accept-encoding': 'identity' }, headersTimeout: 15_000, bodyTimeout: 30_000 });
  } catch (error) {
    throw new FetchError(ErrorCode.VerificationFailed, `verification failed: cannot fetch the manifest ${redactUrl(url)}: ${(error as Error).message}`);
  }
  if (response.statusCode !== 200) {
    discardBody(response.body);
    throw new FetchError(ErrorCode.VerificationFailed, `verification failed: the manifest ${redactUrl(url)} answered ${response.statusCode}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_MANIFEST_BYTES) {
      discardBody(response.body);
      throw new FetchError(ErrorCode.VerificationFailed, `the manifest ${redactUrl(url)} is larger than ${MAX_MANIFEST_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
