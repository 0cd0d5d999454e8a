/**
 * The one retry and backoff policy: exponential backoff with full jitter, `Retry-After` first,
 * everything capped by a per-wait ceiling and the job's deadline (curl's --retry-max-time idea).
 */

/** Longest single wait we accept from a server before preferring other sources (ms). */
export const MAX_RETRY_WAIT_MS = 30_000;
const BASE_DELAY_MS = 250;

/**
 * Parses a `Retry-After` value: delta-seconds or an HTTP-date. Garbage and negative values give
 * undefined, so the caller falls back to its own backoff.
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * How long to wait before the next attempt on a source.
 * @param attempt 1 for the first retry
 * @param retryAfterMs the server's Retry-After, when it sent one
 * @param msLeft time left before the job's deadline (Infinity when none)
 */
export function retryDelay(attempt: number, retryAfterMs: number | undefined, msLeft = Infinity, random = Math.random): number {
  const exponential = Math.min(MAX_RETRY_WAIT_MS, BASE_DELAY_MS * 2 ** Math.max(0, attempt - 1));
  const jittered = exponential / 2 + random() * (exponential / 2);
  const wanted = retryAfterMs !== undefined ? Math.max(retryAfterMs, BASE_DELAY_MS) : jittered;
  return Math.max(0, Math.min(wanted, MAX_RETRY_WAIT_MS, msLeft));
}

/** Attempts without progress after which a source is dropped for the job. */
export const MAX_ATTEMPTS_WITHOUT_PROGRESS = 6;
