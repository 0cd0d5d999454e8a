import * as vscode from 'vscode';
import { DOWNLOADS_VIEW_ID } from '../commands/commandIds';
import { activeStatuses, type DownloadRecord } from '../model/downloadRecord';
import { downloadName } from '../model/downloadRows';
import type { DownloadStore } from '../model/downloadStore';
import { formatEta, formatRate, percentDone } from '../model/units';

/** Progress notifications update no faster than the tree does. */
const NOTIFICATION_GAP_MS = 300;

/**
 * Progress outside the tree: a progress bar on the Downloads view while anything is active, and
 * a cancellable notification for one download started from the command palette at a time.
 */
export class DownloadProgress implements vscode.Disposable {
  private viewProgressDone: (() => void) | undefined;
  private notifiedId: string | undefined;
  private readonly subscription: { dispose(): void };

  constructor(
    private readonly store: DownloadStore,
    private readonly cancel: (downloadId: string) => void,
  ) {
    this.subscription = store.onDidChange((change) => {
      if (change.kind !== 'progress') this.updateViewProgress();
    });
  }

  /** Shows a notification for `downloadId` unless one is already showing (one at a time). */
  notify(downloadId: string): void {
    if (this.notifiedId !== undefined) return;
    const record = this.store.get(downloadId);
    if (!record) return;
    this.notifiedId = downloadId;
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Downloading ${downloadName(record)}`, cancellable: true },
      (progress, token) => new Promise<void>((resolve) => {
        let reported = 0;
        let lastReportAt = 0;
        const report = (current: DownloadRecord, force: boolean) => {
          const now = Date.now();
          if (!force && now - lastReportAt < NOTIFICATION_GAP_MS) return;
          lastReportAt = now;
          const size = current.snapshot?.size ?? 0;
          const percent = percentDone(current.snapshot?.bytesDone ?? 0, size) ?? 0;
          const eta = formatEta(current.snapshot?.etaSeconds);
          const message = current.status === 'downloading' || current.status === 'repairing'
            ? `${percent}% · ${formatRate(current.snapshot?.bytesPerSecond ?? 0)}${eta ? ` · ETA ${eta}` : ''}`
            : `${percent}% · ${current.status}`;
          progress.report({ message, increment: Math.max(0, percent - reported) });
          reported = Math.max(reported, percent);
        };
        const finish = () => {
          subscription.dispose();
          cancelling.dispose();
          this.notifiedId = undefined;
          resolve();
        };
        const subscription = this.store.onDidChange((change) => {
          if (change.id !== downloadId) return;
          const current = this.store.get(downloadId);
          if (!current || !(activeStatuses.has(current.status) || current.status === 'paused')) {
            finish();
            return;
          }
          report(current, change.kind !== 'progress');
        });
        const cancelling = token.onCancellationRequested(() => this.cancel(downloadId));
        report(record, true);
      }),
    );
  }

  dispose(): void {
    this.subscription.dispose();
    this.viewProgressDone?.();
  }

  private updateViewProgress(): void {
    const active = this.store.totals().active > 0;
    if (active && !this.viewProgressDone) {
      void vscode.window.withProgress({ location: { viewId: DOWNLOADS_VIEW_ID } }, () => new Promise<void>((resolve) => {
        this.viewProgressDone = () => {
          this.viewProgressDone = undefined;
          resolve();
        };
      }));
    } else if (!active && this.viewProgressDone) {
      this.viewProgressDone();
    }
  }
}
