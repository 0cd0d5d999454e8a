/** RFC 9110 §14 single byte ranges, as a mirror sees them. */

/** What a `Range` header asks of a representation of `size` bytes. */
export type RangeRequest =
  /** No Range, an unknown unit, a syntax error or several ranges: RFC 9110 lets a server ignore it. */
  | { kind: 'full' }
  /** One satisfiable range; `end` is inclusive and already clamped to size - 1. */
  | { kind: 'partial'; start: number; end: number }
  /** Syntactically valid but starts at or after the end (or a zero suffix): 416. */
  | { kind: 'unsatisfiable' };

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/;

/** Parses a `Range` header value against a representation of `size` bytes. */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'full' };
  const match = SINGLE_RANGE.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return { kind: 'full' };
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? Infinity : Number(match[2]);
  if (end < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end: Math.min(end, size - 1) };
}
