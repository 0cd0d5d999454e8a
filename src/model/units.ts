/**
 * Numbers as people read them in the tree, the status bar and the log. Decimal units
 * (1 MB = 1,000,000 bytes), the way network speeds are quoted.
 */

const byteUnits = ['B', 'kB', 'MB', 'GB', 'TB'] as const;
const spokenByteUnits = ['bytes', 'kilobytes', 'megabytes', 'gigabytes', 'terabytes'] as const;

function scaleDecimal(value: number): { amount: number; unit: number } {
  let amount = Math.max(0, value);
  let unit = 0;
  while (amount >= 1000 && unit < byteUnits.length - 1) {
    amount /= 1000;
    unit++;
  }
  return { amount, unit };
}

function oneDecimalBelowHundred(amount: number, unit: number): string {
  if (unit === 0) return String(Math.round(amount));
  return amount >= 100 ? amount.toFixed(0) : amount.toFixed(1);
}

/** `1234567` → `"1.2 MB"`. */
export function formatBytes(bytes: number): string {
  const { amount, unit } = scaleDecimal(bytes);
  return `${oneDecimalBelowHundred(amount, unit)} ${byteUnits[unit]}`;
}

/** `73_200_000` → `"73.2 MB/s"`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** `73_200_000` → `"73.2 megabytes per second"` (for screen readers). */
export function formatRateSpoken(bytesPerSecond: number): string {
  const { amount, unit } = scaleDecimal(bytesPerSecond);
  return `${oneDecimalBelowHundred(amount, unit)} ${spokenByteUnits[unit]} per second`;
}

/** Seconds left as `"45s"`, `"1m 05s"`, `"2h 03m"`; undefined when unknown or absurd. */
export function formatEta(seconds: number | undefined): string | undefined {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return undefined;
  const whole = Math.ceil(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${String(whole % 60).padStart(2, '0')}s`;
  const hours = Math.floor(whole / 3600);
  if (hours > 99) return '> 99h';
  return `${hours}h ${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Whole percent done, never rounded up to 100 before the last byte (a stuck "100%" is a lie);
 * undefined when the total is unknown.
 */
export function percentDone(done: number, total: number): number | undefined {
  if (!(total > 0)) return undefined;
  if (done >= total) return 100;
  return Math.min(99, Math.floor((Math.max(0, done) * 100) / total));
}

/** A share 0..1 as `"41%"`. */
export function formatShare(share: number): string {
  return `${Math.round(Math.min(1, Math.max(0, share)) * 100)}%`;
}

/** Milliseconds as `"12 ms"` or `"1.2 s"`. */
export function formatLatency(ms: number): string {
  if (!(ms >= 0)) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
