import type { DownloadTotals } from './downloadStore';
import { formatRate, formatRateSpoken } from './units';

/** What the status bar item shows. */
export interface ThroughputSummary {
  visible: boolean;
  text: string;
  tooltip: string;
  ariaLabel: string;
}

/** `$(cloud-download) 73.2 MB/s · 2 active`, hidden when nothing is active. */
export function throughputSummary(totals: DownloadTotals): ThroughputSummary {
  const downloads = totals.active === 1 ? 'download' : 'downloads';
  return {
    visible: totals.active > 0,
    text: `$(cloud-download) ${formatRate(totals.bytesPerSecond)} · ${totals.active} active`,
    tooltip: `Artifact Fetch: ${totals.active} ${downloads} active — click to show them`,
    ariaLabel: `Artifact Fetch: ${formatRateSpoken(totals.bytesPerSecond)}, ${totals.active} ${downloads} active`,
  };
}
