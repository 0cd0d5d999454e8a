/** The elements of the Downloads tree: plain ids, looked up in the store when rendered. */
export type DownloadTreeNode =
  | { kind: 'download'; downloadId: string }
  | { kind: 'pieces'; downloadId: string }
  | { kind: 'sources'; downloadId: string }
  | { kind: 'segments'; downloadId: string }
  | { kind: 'source'; downloadId: string; sourceId: number }
  | { kind: 'segment'; downloadId: string; segmentId: number };

/** The download a node belongs to (command handlers accept any node of a download). */
export function downloadIdOf(node: unknown): string | undefined {
  if (typeof node === 'string') return node;
  if (typeof node === 'object' && node !== null && typeof (node as { downloadId?: unknown }).downloadId === 'string') {
    return (node as { downloadId: string }).downloadId;
  }
  return undefined;
}
