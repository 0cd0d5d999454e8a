import * as assert from 'node:assert/strict';
import { downloadContextValue, facetsOf } from '../../src/model/contextValue';
import type { DownloadRecord, DownloadStatus } from '../../src/model/downloadRecord';
import { sampleRequest } from './fixtures';

function record(status: DownloadStatus, result?: Partial<DownloadRecord['result']>): DownloadRecord {
  return { id: 'a', request: sampleRequest(), status, addedAt: 0, result: result as DownloadRecord['result'] };
}

describe('contextValue facets', () => {
  it('marks a running download pausable and cancellable', () => {
    assert.equal(downloadContextValue(record('downloading')), 'download+running+pausable+cancellable+streamable');
  });

  it('offers resume for paused and interrupted downloads', () => {
    assert.equal(downloadContextValue(record('paused')), 'download+paused+resumable+cancellable+streamable');
    assert.equal(downloadContextValue(record('interrupted')), 'download+interrupted+resumable+cancellable+removable');
  });

  it('offers retry and remove after a failure or cancel', () => {
    assert.deepEqual(facetsOf(record('failed')), ['retryable', 'removable']);
    assert.deepEqual(facetsOf(record('cancelled')), ['retryable', 'removable']);
  });

  it('offers open and the copy actions for a completed download with hashes', () => {
    const done = record('completed', { ok: true, sha256: 'ab'.repeat(32), root: 'cd'.repeat(32) });
    assert.equal(downloadContextValue(done), 'download+completed+removable+openable+hasSha256+hasRoot');
  });

  it('matches package.json menu clauses facet by facet', () => {
    const facet = (name: string) => new RegExp(`(^|\\+)${name}(\\+|$)`);
    const value = downloadContextValue(record('downloading'));
    assert.ok(facet('pausable').test(value));
    assert.ok(!facet('resumable').test(value));
    assert.ok(!facet('able').test(value), 'a facet must not match a part of another');
  });
});
