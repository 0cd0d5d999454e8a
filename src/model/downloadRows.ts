import type { SegmentSnapshot, SourceSnapshot, SourceState } from '../engine/snapshot';
import { downloadContextValue } from './contextValue';
import { scoreExplanation } from './scoreExplanation';
import type { DownloadRecord, DownloadStatus } from './downloadRecord';
import { formatBytes, formatEta, formatLatency, formatRate, formatShare, percentDone } from './units';

/**
 * How each tree row looks, computed without VS Code so it can be unit-tested; src/views turns
 * these into TreeItems. Accessibility labels start with a stable prefix ("Download <name>",
 * "Source <host>", …) that UI tests select on; the moving numbers come after it.
 */

/** A codicon id and an optional theme color id. */
export interface IconRef {
  id: string;
  color?: string;
}

/** Text and icon of one tree row. */
export interface RowView {
  label: string;
  description?: string;
  tooltip: string;
  ariaLabel: string;
  icon?: IconRef;
  contextValue?: string;
}

const statusIcons: Record<DownloadStatus, IconRef> = {
  starting: { id: 'loading~spin' },
  probing: { id: 'search' },
  downloading: { id: 'cloud-download' },
  verifying: { id: 'shield' },
  repairing: { id: 'tools', color: 'charts.yellow' },
  paused: { id: 'debug-pause' },
  completed: { id: 'pass', color: 'testing.iconPassed' },
  failed: { id: 'error', color: 'errorForeground' },
  cancelled: { id: 'circle-slash' },
  interrupted: { id: 'debug-disconnect', color: 'charts.yellow' },
};

const sourceIcons: Record<SourceState, IconRef> = {
  probing: { id: 'search' },
  active: { id: 'arrow-down', color: 'charts.green' },
  standby: { id: 'circle-outline' },
  slow: { id: 'watch', color: 'charts.yellow' },
  waiting: { id: 'clock' },
  dropped: { id: 'debug-step-out', color: 'charts.orange' },
  excluded: { id: 'circle-slash' },
  banned: { id: 'error', color: 'errorForeground' },
};

/** The name of a download: the engine's once known, else the request's. */
export function downloadName(record: DownloadRecord): string {
  return record.snapshot?.name || record.request.name;
}

/** The top-level row of one download: name, percent, throughput, ETA and a state icon. */
export function downloadRow(record: DownloadRecord): RowView {
  const name = downloadName(record);
  const snapshot = record.snapshot;
  const size = record.result?.size || snapshot?.size || 0;
  const done = record.status === 'completed' ? size : snapshot?.bytesDone ?? 0;
  const percent = percentDone(done, size);
  const parts: string[] = [];
  if (percent !== undefined) parts.push(`${percent}%`);
  if (record.status === 'downloading' || record.status === 'repairing') {
    parts.push(formatRate(snapshot?.bytesPerSecond ?? 0));
    const eta = formatEta(snapshot?.etaSeconds);
    if (eta) parts.push(`ETA ${eta}`);
  } else {
    parts.push(record.status);
  }
  if (record.status === 'completed' && size > 0) parts.push(formatBytes(size));
  if ((record.status === 'failed' || record.status === 'interrupted') && record.error) parts.push(record.error.message);
  const tooltip = [
    `${name} — ${record.status}`,
    record.request.options.outputPath,
    size > 0 ? `${formatBytes(done)} of ${formatBytes(size)}` : undefined,
    snapshot ? `${snapshot.sources.length} sources, ${snapshot.piecesVerified}/${snapshot.pieceCount} pieces verified` : undefined,
    record.result?.verifiedBy ? `verified by ${record.result.verifiedBy}` : undefined,
    record.result?.sha256 ? `SHA-256 ${record.result.sha256}` : undefined,
    record.result?.root ? `Merkle root ${record.result.root}` : undefined,
    record.error ? `${record.error.code}: ${record.error.message}` : undefined,
  ].filter((line): line is string => line !== undefined);
  return {
    label: name,
    description: parts.join(' · '),
    tooltip: tooltip.join('\n'),
    ariaLabel: `Download ${name}, ${record.status}${percent !== undefined ? `, ${percent} percent` : ''}`,
    icon: statusIcons[record.status],
    contextValue: downloadContextValue(record),
  };
}

/** The "Pieces" summary row: verified / total. */
export function piecesRow(record: DownloadRecord): RowView {
  const verified = record.snapshot?.piecesVerified ?? 0;
  const total = record.snapshot?.pieceCount ?? 0;
  const pieceSize = record.snapshot?.pieceSize ?? 0;
  return {
    label: 'Pieces',
    description: `${verified} / ${total} verified`,
    tooltip: pieceSize > 0 ? `${total} pieces of ${formatBytes(pieceSize)}; each is hashed and checked as it arrives` : 'Piece size not known yet',
    ariaLabel: `Pieces of ${downloadName(record)}, ${verified} of ${total} verified`,
    icon: { id: 'symbol-array' },
    contextValue: 'pieces',
  };
}

/** The "Sources" group row. */
export function sourcesGroupRow(record: DownloadRecord): RowView {
  const sources = record.snapshot?.sources ?? [];
  const active = sources.filter((source) => source.state === 'active').length;
  return {
    label: 'Sources',
    description: `${active} active / ${sources.length}`,
    tooltip: 'Every place holding this artifact, best ranked first',
    ariaLabel: `Sources of ${downloadName(record)}, ${active} active of ${sources.length}`,
    icon: { id: 'server-environment' },
    contextValue: 'sources',
  };
}

/** The "Segments in flight" group row. */
export function segmentsGroupRow(record: DownloadRecord): RowView {
  const count = record.snapshot?.segments.length ?? 0;
  return {
    label: 'Segments in flight',
    description: String(count),
    tooltip: 'Byte ranges being fetched right now, one per connection',
    ariaLabel: `Segments of ${downloadName(record)}, ${count} in flight`,
    icon: { id: 'list-flat' },
    contextValue: 'segments',
  };
}

/** Sources in display order: ranked ones by rank, then unranked ones (excluded, banned) by id. */
export function sourcesInRankOrder(sources: readonly SourceSnapshot[]): SourceSnapshot[] {
  const rankKey = (source: SourceSnapshot) => (source.rank > 0 ? source.rank : Number.MAX_SAFE_INTEGER);
  return [...sources].sort((a, b) => rankKey(a) - rankKey(b) || a.id - b.id);
}

/** Host (and port) of a URL, plus the route when the source goes through a proxy. */
export function sourceLabel(source: Pick<SourceSnapshot, 'url' | 'route'>): string {
  const host = hostOf(source.url);
  return source.route ? `${host} via ${hostOf(source.route)}` : host;
}

/** States in which a source is out of the download for good: its row shows why instead of a speed. */
const outOfPlayStates: ReadonlySet<SourceState> = new Set(['banned', 'excluded']);

/**
 * One source: rank, state, MB/s, latency, share of bytes, strikes; the tooltip says why it is in
 * that state. A banned or excluded source shows the reason itself ("banned · sent corrupt data
 * for piece 60"): its speed is zero and the reason is what the user needs to see.
 */
export function sourceRow(source: SourceSnapshot): RowView {
  const label = sourceLabel(source);
  const strikes = source.strikes === 1 ? '1 strike' : `${source.strikes} strikes`;
  const reason = source.reason.startsWith(`${source.state}: `) ? source.reason.slice(source.state.length + 2) : source.reason;
  const description = [
    source.state,
    ...(outOfPlayStates.has(source.state) && reason ? [reason] : [formatRate(source.bytesPerSecond), formatLatency(source.latencyMs)]),
    `${formatShare(source.share)} of bytes`,
    ...(source.strikes > 0 ? [strikes] : []),
  ].join(' · ');
  const tooltip = [
    `${source.state}: ${source.reason}`,
    source.url,
    source.route ? `route: ${source.route}` : undefined,
    source.localAddress ? `from local address ${source.localAddress}` : undefined,
    source.encoding ? `serves a ${source.encoding} copy: decoded as one stream from byte 0, verified like the others` : undefined,
    `rank ${source.rank > 0 ? source.rank : '–'} (score ${source.score.toFixed(2)}), ${source.connections} connections`,
    `${formatBytes(source.bytes)} received, ${strikes}`,
    ...scoreExplanation(source),
    source.origin ? `from ${source.origin}` : undefined,
  ].filter((line): line is string => line !== undefined);
  return {
    label: `${source.rank > 0 ? `#${source.rank}` : '–'} ${label}`,
    description,
    tooltip: tooltip.join('\n'),
    ariaLabel: `Source ${label}, ${source.state}, rank ${source.rank > 0 ? source.rank : 'none'}`,
    icon: sourceIcons[source.state],
    contextValue: `source+${source.state}`,
  };
}

/** One segment in flight: byte range, the source serving it, progress. */
export function segmentRow(segment: SegmentSnapshot, sources: readonly SourceSnapshot[]): RowView {
  const source = sources.find((candidate) => candidate.id === segment.sourceId);
  const from = source ? sourceLabel(source) : `source ${segment.sourceId}`;
  const length = segment.end - segment.start;
  const percent = percentDone(segment.cursor - segment.start, length) ?? 0;
  return {
    label: `${formatBytes(segment.start)} – ${formatBytes(segment.end)}`,
    description: `${from} · ${percent}%${segment.racing ? ' · racing' : ''}`,
    tooltip: `bytes ${segment.start}–${segment.end - 1} (${formatBytes(length)}) from ${from}; next byte ${segment.cursor}${segment.racing ? '\nendgame duplicate racing another connection' : ''}`,
    ariaLabel: `Segment ${segment.start} to ${segment.end} from ${from}, ${percent} percent`,
    icon: { id: segment.racing ? 'run-all' : 'arrow-small-down' },
    contextValue: segment.racing ? 'segment+racing' : 'segment',
  };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}
