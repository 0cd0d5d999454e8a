/**
 * One RFC 9110 byte range from a `Range` header, resolved against the file size. Several ranges
 * (multipart/byteranges) are not served: such a header is ignored and the whole file is sent,
 * which the RFC allows.
 */

/** What a Range header asks for. */
export type RangeRequest =
  | { kind: 'whole' }
  | { kind: 'range'; start: number; /** Exclusive. */ end: number }
  | { kind: 'unsatisfiable' };

export function parseByteRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'whole' };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  // Not a single byte range (another unit, a list, garbage): ignored, as RFC 9110 permits.
  if (!match || (match[1] === '' && match[2] === '')) return { kind: 'whole' };
  if (match[1] === '') {
    // Suffix range: the last N bytes.
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(match[1]);
  if (match[2] !== '' && Number(match[2]) < start) return { kind: 'whole' }; // invalid: ignored
  const last = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (!Number.isSafeInteger(start) || start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'range', start, end: last + 1 };
}
