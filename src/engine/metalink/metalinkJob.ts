/**
 * Turns one file of a Metalink document into the engine's sources and expected identity.
 * Metalink priorities are "lower is preferred" (RFC 5854); SourceSpec priorities are "higher is
 * preferred", so they are mirrored here. http(s) and ftp(s) URLs become sources; others are
 * skipped. Piece hashes are used only when their length is a valid
 * piece size for the engine (a power of two, at least 16 KiB).
 */
import type { ExpectedIdentity, SourceSpec } from '../jobOptions';
import type { MetalinkFile } from './metalinkParser';

export interface MetalinkJobParts {
  sources: SourceSpec[];
  expected: ExpectedIdentity;
  /** Why piece hashes were not used, when they were present but unusable. */
  note?: string;
}

export function jobPartsFromMetalink(file: MetalinkFile): MetalinkJobParts {
  const sources: SourceSpec[] = file.urls
    .filter((u) => /^(https?|ftps?):/i.test(u.url))
    .map((u, index) => ({ u, index }))
    .sort((a, b) => (a.u.priority ?? 999_999) - (b.u.priority ?? 999_999) || a.index - b.index)
    .map(({ u }) => ({ url: u.url, priority: u.priority !== undefined ? Math.max(0, 1_000_000 - u.priority) / 10_000 : 0, location: u.location, origin: 'metalink' }));
  const expected: ExpectedIdentity = { size: file.size, sha256: file.sha256 };
  let note: string | undefined;
  if (file.pieces) {
    const length = file.pieces.length;
    if (length >= 16 * 1024 && (length & (length - 1)) === 0) {
      expected.pieceSize = length;
      expected.pieceSha256 = file.pieces.hashes;
    } else {
      note = `piece hashes of ${length} bytes are not usable (not a power of two of at least 16 KiB); the whole-file hash is checked instead`;
    }
  }
  return { sources, expected, note };
}
