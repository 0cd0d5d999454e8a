import type { DownloadRecord, DownloadStatus } from './downloadRecord';

/** What the user can do with a download; each becomes a `+facet` of the tree item's contextValue. */
export const downloadFacets = ['pausable', 'resumable', 'cancellable', 'retryable', 'removable', 'openable', 'hasSha256', 'hasRoot', 'streamable'] as const;

export type DownloadFacet = (typeof downloadFacets)[number];

/** The coarse phase in a contextValue: menus match on it rather than on every engine state. */
export type DownloadPhase = 'running' | 'paused' | 'interrupted' | 'completed' | 'failed' | 'cancelled';

/** Maps a download's status to the phase used in menus. */
export function phaseOf(status: DownloadStatus): DownloadPhase {
  switch (status) {
    case 'starting':
    case 'probing':
    case 'downloading':
    case 'verifying':
    case 'repairing':
      return 'running';
    default:
      return status;
  }
}

/** The actions open to a download in its current state. */
export function facetsOf(record: DownloadRecord): DownloadFacet[] {
  const facets: DownloadFacet[] = [];
  const phase = phaseOf(record.status);
  if (record.status === 'probing' || record.status === 'downloading' || record.status === 'repairing') facets.push('pausable');
  if (phase === 'paused' || phase === 'interrupted') facets.push('resumable');
  if (phase === 'running' || phase === 'paused' || phase === 'interrupted') facets.push('cancellable');
  if (phase === 'failed' || phase === 'cancelled') facets.push('retryable');
  if (phase !== 'running' && phase !== 'paused') facets.push('removable');
  if (phase === 'completed') facets.push('openable');
  if (record.result?.sha256) facets.push('hasSha256');
  if (record.result?.root) facets.push('hasRoot');
  // The worker runs the job (also while paused): it has a stream URL.
  if (record.status !== 'starting' && (phase === 'running' || phase === 'paused')) facets.push('streamable');
  return facets;
}

/**
 * The tree item's contextValue, e.g. `download+running+pausable+cancellable`. package.json menus
 * match one facet with `viewItem =~ /(^|\+)pausable(\+|$)/`, so facets can be added freely.
 */
export function downloadContextValue(record: DownloadRecord): string {
  return ['download', phaseOf(record.status), ...facetsOf(record)].join('+');
}
