import type { DownloadRecord } from './downloadRecord';
import { activeStatuses } from './downloadRecord';
import type { DownloadStore } from './downloadStore';

/** The storage the list is kept in (VS Code's workspaceState has this shape). */
export interface KeyValueStorage {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void> | Promise<void>;
}

const STORAGE_KEY = 'artifactFetch.downloads';
/** The list keeps the newest downloads only; older ones fall off. */
const MAX_KEPT = 50;

/** What is kept of one download between sessions: no secrets (requests never hold tokens). */
type SavedDownload = Pick<DownloadRecord, 'id' | 'request' | 'status' | 'snapshot' | 'result' | 'error' | 'addedAt'>;

/**
 * Keeps the download list across window reloads. A download that was running when VS Code went
 * away comes back as `interrupted`, so Resume starts it again from the engine's journal.
 */
export class DownloadPersistence {
  private frozen = false;
  private readonly subscription: { dispose(): void };

  constructor(private readonly store: DownloadStore, private readonly storage: KeyValueStorage) {
    this.subscription = store.onDidChange((change) => {
      if (change.kind !== 'progress') this.save();
    });
  }

  /** Puts the saved downloads back into the (empty) store. */
  restore(): void {
    const saved = this.storage.get<SavedDownload[]>(STORAGE_KEY);
    if (!Array.isArray(saved)) return;
    for (const download of saved) {
      if (!download?.id || !download.request?.options || this.store.get(download.id)) continue;
      const wasRunning = activeStatuses.has(download.status) || download.status === 'paused';
      this.store.restore({
        ...download,
        status: wasRunning ? 'interrupted' : download.status,
        error: wasRunning ? { code: 'E_INTERRUPTED', message: 'VS Code closed during the download; Resume continues from the journal' } : download.error,
      });
    }
  }

  /** Stops saving: the shutdown that follows cancels jobs, and that must not be remembered as the user's cancel. */
  freeze(): void {
    this.frozen = true;
  }

  dispose(): void {
    this.subscription.dispose();
  }

  private save(): void {
    if (this.frozen) return;
    const kept: SavedDownload[] = this.store.list().slice(-MAX_KEPT).map((record) => ({
      id: record.id,
      request: record.request,
      status: record.status,
      snapshot: record.snapshot,
      result: record.result,
      error: record.error,
      addedAt: record.addedAt,
    }));
    void this.storage.update(STORAGE_KEY, kept);
  }
}
