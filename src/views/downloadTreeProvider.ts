import * as vscode from 'vscode';
import type { DownloadChange, DownloadStore } from '../model/downloadStore';
import {
  downloadRow,
  piecesRow,
  segmentRow,
  segmentsGroupRow,
  sourceRow,
  sourcesGroupRow,
  sourcesInRankOrder,
  type RowView,
} from '../model/downloadRows';
import { REFRESH_ALL, RefreshScheduler } from '../model/refreshScheduler';
import type { DownloadTreeNode } from './downloadTreeNodes';

/** Gap between tree refreshes; VS Code's restarting 200 ms debounce freezes a tree refreshed faster. */
export const TREE_REFRESH_GAP_MS = 300;

/**
 * Renders the store as the Downloads tree: download → pieces summary, Sources, Segments in
 * flight. Progress refreshes at most every {@link TREE_REFRESH_GAP_MS}; state changes at once.
 */
export class DownloadTreeProvider implements vscode.TreeDataProvider<DownloadTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<DownloadTreeNode | DownloadTreeNode[] | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  /** One object per download, so element refreshes match the elements VS Code holds. */
  private readonly downloadNodes = new Map<string, DownloadTreeNode>();
  private readonly scheduler: RefreshScheduler<string>;
  private readonly subscription: { dispose(): void };

  constructor(private readonly store: DownloadStore) {
    this.scheduler = new RefreshScheduler<string>(TREE_REFRESH_GAP_MS, (keys) => this.flush(keys));
    this.subscription = store.onDidChange((change) => this.onStoreChange(change));
  }

  getTreeItem(node: DownloadTreeNode): vscode.TreeItem {
    const record = this.store.get(node.downloadId);
    if (!record) return new vscode.TreeItem('(removed)');
    const snapshot = record.snapshot;
    switch (node.kind) {
      case 'download':
        return toTreeItem(downloadRow(record), node.downloadId, vscode.TreeItemCollapsibleState.Expanded);
      case 'pieces':
        return toTreeItem(piecesRow(record), `${node.downloadId}/pieces`, vscode.TreeItemCollapsibleState.None);
      case 'sources':
        return toTreeItem(sourcesGroupRow(record), `${node.downloadId}/sources`, vscode.TreeItemCollapsibleState.Expanded);
      case 'segments':
        return toTreeItem(segmentsGroupRow(record), `${node.downloadId}/segments`, vscode.TreeItemCollapsibleState.Collapsed);
      case 'source': {
        const source = snapshot?.sources.find((candidate) => candidate.id === node.sourceId);
        if (!source) return new vscode.TreeItem('(gone)');
        return toTreeItem(sourceRow(source), `${node.downloadId}/sources/${node.sourceId}`, vscode.TreeItemCollapsibleState.None);
      }
      case 'segment': {
        const segment = snapshot?.segments.find((candidate) => candidate.id === node.segmentId);
        if (!segment || !snapshot) return new vscode.TreeItem('(done)');
        return toTreeItem(segmentRow(segment, snapshot.sources), `${node.downloadId}/segments/${node.segmentId}`, vscode.TreeItemCollapsibleState.None);
      }
    }
  }

  getChildren(node?: DownloadTreeNode): DownloadTreeNode[] {
    if (!node) return this.store.list().map((record) => this.downloadNode(record.id));
    const record = this.store.get(node.downloadId);
    if (!record) return [];
    const downloadId = node.downloadId;
    switch (node.kind) {
      case 'download':
        return [{ kind: 'pieces', downloadId }, { kind: 'sources', downloadId }, { kind: 'segments', downloadId }];
      case 'sources':
        return sourcesInRankOrder(record.snapshot?.sources ?? []).map((source) => ({ kind: 'source', downloadId, sourceId: source.id }));
      case 'segments':
        return (record.snapshot?.segments ?? []).map((segment) => ({ kind: 'segment', downloadId, segmentId: segment.id }));
      default:
        return [];
    }
  }

  getParent(node: DownloadTreeNode): DownloadTreeNode | undefined {
    if (node.kind === 'download') return undefined;
    if (node.kind === 'source') return { kind: 'sources', downloadId: node.downloadId };
    if (node.kind === 'segment') return { kind: 'segments', downloadId: node.downloadId };
    return this.downloadNode(node.downloadId);
  }

  /** The tree element of a download (for `TreeView.reveal`). */
  downloadNode(downloadId: string): DownloadTreeNode {
    let node = this.downloadNodes.get(downloadId);
    if (!node) {
      node = { kind: 'download', downloadId };
      this.downloadNodes.set(downloadId, node);
    }
    return node;
  }

  dispose(): void {
    this.subscription.dispose();
    this.scheduler.dispose();
    this.changed.dispose();
  }

  private onStoreChange(change: DownloadChange): void {
    if (change.kind === 'added' || change.kind === 'removed') {
      if (change.kind === 'removed') this.downloadNodes.delete(change.id);
      this.scheduler.request(REFRESH_ALL, true);
      return;
    }
    this.scheduler.request(change.id, change.kind === 'status');
  }

  private flush(keys: ReadonlySet<string> | typeof REFRESH_ALL): void {
    if (keys === REFRESH_ALL) {
      this.changed.fire(undefined);
      return;
    }
    const nodes = [...keys].filter((id) => this.store.get(id)).map((id) => this.downloadNode(id));
    if (nodes.length > 0) this.changed.fire(nodes);
  }
}

function toTreeItem(row: RowView, id: string, collapsible: vscode.TreeItemCollapsibleState): vscode.TreeItem {
  const item = new vscode.TreeItem(row.label, collapsible);
  item.id = id;
  item.description = row.description;
  item.tooltip = row.tooltip;
  item.accessibilityInformation = { label: row.ariaLabel };
  item.contextValue = row.contextValue;
  if (row.icon) item.iconPath = new vscode.ThemeIcon(row.icon.id, row.icon.color ? new vscode.ThemeColor(row.icon.color) : undefined);
  return item;
}
