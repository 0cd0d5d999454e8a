import * as assert from 'node:assert/strict';
import type { JobSnapshot } from '../../src/engine/snapshot';
import { SnapshotPump } from '../../src/worker/snapshotPump';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function snapshotWith(bytesDone: number, state: JobSnapshot['state'] = 'downloading'): JobSnapshot {
  return { jobId: 'a', name: 'a', outputPath: '/a', state, size: 100, pieceSize: 16384, pieceCount: 1, piecesVerified: 0, bytesDone, bytesPerSecond: 1, startedAt: 0, sources: [], segments: [], pattern: [] };
}

describe('SnapshotPump (worker-side coalescing)', () => {
  it('posts at most one snapshot per interval however fast the job changes', async () => {
    const sent: JobSnapshot[] = [];
    const pump = new SnapshotPump(50, (snapshot) => sent.push(snapshot));
    let bytes = 0;
    pump.track('a', () => snapshotWith(++bytes));
    await sleep(520);
    pump.dispose();
    // The bound that matters is the upper one; a loaded CI machine may tick less often.
    assert.ok(sent.length >= 3 && sent.length <= 11, `sent ${sent.length} in ~0.5 s at a 50 ms interval`);
  });

  it('skips snapshots that did not change (a paused job costs nothing)', async () => {
    const sent: JobSnapshot[] = [];
    const pump = new SnapshotPump(20, (snapshot) => sent.push(snapshot));
    pump.track('a', () => snapshotWith(5, 'paused'));
    await sleep(200);
    pump.dispose();
    assert.equal(sent.length, 1);
  });

  it('sends a state change at once without waiting for the interval', () => {
    const sent: JobSnapshot[] = [];
    const pump = new SnapshotPump(10_000, (snapshot) => sent.push(snapshot));
    let state: JobSnapshot['state'] = 'probing';
    pump.track('a', () => snapshotWith(0, state));
    state = 'downloading';
    pump.sendNow('a');
    pump.dispose();
    assert.deepEqual(sent.map((snapshot) => snapshot.state), ['downloading']);
  });

  it('tolerates a job that cannot describe itself yet', () => {
    const pump = new SnapshotPump(10, () => assert.fail('nothing to send'));
    pump.track('a', () => { throw new Error('not ready'); });
    pump.sendNow('a');
    pump.dispose();
  });
});
