import * as assert from 'node:assert/strict';
import { ErrorCode } from '../../src/engine/errors';
import type { DownloadResult } from '../../src/engine/snapshot';
import { DownloadPersistence } from '../../src/model/downloadPersistence';
import { DownloadStore, type DownloadChange } from '../../src/model/downloadStore';
import { sampleRequest, sampleSnapshot } from './fixtures';

function okResult(): DownloadResult {
  return { ok: true, path: '/ws/artifacts/model.bin', size: 100_000_000, pieceSize: 1_048_576, seconds: 2, bytesFetched: 100_000_000, bytesResumed: 0, sources: [], sha256: 'ab'.repeat(32) };
}

describe('DownloadStore', () => {
  let store: DownloadStore;
  let changes: DownloadChange[];

  beforeEach(() => {
    store = new DownloadStore();
    changes = [];
    store.onDidChange((change) => changes.push(change));
  });

  it('adds a download as starting and reports it', () => {
    store.add('a', sampleRequest());
    assert.equal(store.get('a')?.status, 'starting');
    assert.deepEqual(changes, [{ id: 'a', kind: 'added' }]);
    assert.throws(() => store.add('a', sampleRequest()), /already/);
  });

  it('reports a snapshot that changes the state as status, others as progress', () => {
    store.add('a', sampleRequest());
    store.applySnapshot(sampleSnapshot('a', { bytesDone: 1 }));
    store.applySnapshot(sampleSnapshot('a', { bytesDone: 2 }));
    store.applySnapshot(sampleSnapshot('a', { state: 'paused' }));
    assert.deepEqual(changes.slice(1).map((change) => change.kind), ['status', 'progress', 'status']);
    assert.equal(store.get('a')?.status, 'paused');
  });

  it('ignores snapshots of unknown downloads and ones that trail a result', () => {
    store.applySnapshot(sampleSnapshot('ghost'));
    store.add('a', sampleRequest());
    store.applyResult('a', okResult());
    store.applySnapshot(sampleSnapshot('a', { state: 'downloading' }));
    assert.equal(store.get('a')?.status, 'completed');
    assert.equal(store.get('ghost'), undefined);
  });

  it('maps results to completed, cancelled or failed', () => {
    store.add('ok', sampleRequest());
    store.applyResult('ok', okResult());
    store.add('cancel', sampleRequest());
    store.applyResult('cancel', { ...okResult(), ok: false, error: { code: ErrorCode.Interrupted, message: 'cancelled' } });
    store.add('fail', sampleRequest());
    store.applyResult('fail', { ...okResult(), ok: false, error: { code: ErrorCode.NoUsableSource, message: 'all sources failed' } });
    assert.deepEqual(['ok', 'cancel', 'fail'].map((id) => store.get(id)?.status), ['completed', 'cancelled', 'failed']);
    assert.equal(store.get('fail')?.error?.code, ErrorCode.NoUsableSource);
  });

  it('marks interrupted downloads and ignores their late snapshots until restarted', () => {
    store.add('a', sampleRequest());
    store.applySnapshot(sampleSnapshot('a'));
    store.markInterrupted('a', { code: ErrorCode.Interrupted, message: 'worker stopped' });
    store.applySnapshot(sampleSnapshot('a', { bytesDone: 50_000_000 }));
    assert.equal(store.get('a')?.status, 'interrupted');
    assert.equal(store.get('a')?.snapshot?.bytesDone, 42_000_000, 'the last known progress stays visible');
    store.markStarting('a');
    store.applySnapshot(sampleSnapshot('a', { bytesDone: 50_000_000 }));
    assert.equal(store.get('a')?.status, 'downloading');
  });

  it('sums throughput and counts active downloads only', () => {
    store.add('a', sampleRequest());
    store.applySnapshot(sampleSnapshot('a', { bytesPerSecond: 10_000_000 }));
    store.add('b', sampleRequest());
    store.applySnapshot(sampleSnapshot('b', { bytesPerSecond: 5_000_000 }));
    store.add('c', sampleRequest());
    store.applySnapshot(sampleSnapshot('c', { state: 'paused', bytesPerSecond: 7 }));
    assert.deepEqual(store.totals(), { bytesPerSecond: 15_000_000, active: 2 });
  });

  it('finds the unfinished download writing a target', () => {
    store.add('a', sampleRequest('x.bin'));
    assert.equal(store.unfinishedDownloadTo('/ws/artifacts/x.bin')?.id, 'a');
    store.applyResult('a', okResult());
    assert.equal(store.unfinishedDownloadTo('/ws/artifacts/x.bin'), undefined);
  });

  it('removes downloads', () => {
    store.add('a', sampleRequest());
    assert.equal(store.remove('a'), true);
    assert.equal(store.remove('a'), false);
    assert.deepEqual(changes.at(-1), { id: 'a', kind: 'removed' });
    assert.deepEqual(store.list(), []);
  });
});

describe('DownloadPersistence', () => {
  class MemoryStorage {
    values = new Map<string, unknown>();
    get<T>(key: string): T | undefined { return this.values.get(key) as T | undefined; }
    async update(key: string, value: unknown): Promise<void> { this.values.set(key, JSON.parse(JSON.stringify(value))); }
  }

  it('brings a running download back as interrupted, and a finished one as it was', () => {
    const storage = new MemoryStorage();
    const before = new DownloadStore();
    const saving = new DownloadPersistence(before, storage);
    before.add('run', sampleRequest('run.bin'));
    before.applySnapshot(sampleSnapshot('run'));
    before.add('done', sampleRequest('done.bin'));
    before.applyResult('done', okResult());
    saving.freeze();
    before.applyResult('run', { ...okResult(), ok: false, error: { code: ErrorCode.Interrupted, message: 'shutdown' } });

    const after = new DownloadStore();
    new DownloadPersistence(after, storage).restore();
    assert.equal(after.get('run')?.status, 'interrupted');
    assert.equal(after.get('run')?.snapshot?.bytesDone, 42_000_000);
    assert.equal(after.get('done')?.status, 'completed');
    assert.equal(after.get('done')?.result?.sha256, 'ab'.repeat(32));
  });
});
