import * as vscode from 'vscode';
import { FOCUS_DOWNLOADS_VIEW_COMMAND, THROUGHPUT_STATUS_ITEM_ID } from '../commands/commandIds';
import type { DownloadStore } from '../model/downloadStore';
import { REFRESH_ALL, RefreshScheduler } from '../model/refreshScheduler';
import { throughputSummary } from '../model/throughputSummary';

/** The status bar's text need not move faster than people read it. */
const STATUS_REFRESH_GAP_MS = 500;

/** One left-aligned status bar item: total throughput and active downloads; hidden when idle. */
export class ThroughputStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(THROUGHPUT_STATUS_ITEM_ID, vscode.StatusBarAlignment.Left, 100);
  private readonly scheduler = new RefreshScheduler<string>(STATUS_REFRESH_GAP_MS, () => this.render());
  private readonly subscription: { dispose(): void };

  constructor(private readonly store: DownloadStore) {
    this.item.name = 'Artifact Fetch Throughput';
    this.item.command = FOCUS_DOWNLOADS_VIEW_COMMAND;
    this.subscription = store.onDidChange((change) => this.scheduler.request(REFRESH_ALL, change.kind !== 'progress'));
    this.render();
  }

  dispose(): void {
    this.subscription.dispose();
    this.scheduler.dispose();
    this.item.dispose();
  }

  private render(): void {
    const summary = throughputSummary(this.store.totals());
    if (!summary.visible) {
      this.item.hide();
      return;
    }
    this.item.text = summary.text;
    this.item.tooltip = summary.tooltip;
    this.item.accessibilityInformation = { label: summary.ariaLabel, role: 'button' };
    this.item.show();
  }
}
