import * as assert from 'node:assert/strict';
import type { DownloadRecord } from '../../src/model/downloadRecord';
import { downloadRow, piecesRow, segmentRow, sourceRow, sourcesInRankOrder } from '../../src/model/downloadRows';
import { throughputSummary } from '../../src/model/throughputSummary';
import { sampleRequest, sampleSnapshot, sampleSource } from './fixtures';

function running(): DownloadRecord {
  return { id: 'a', request: sampleRequest(), status: 'downloading', addedAt: 0, snapshot: sampleSnapshot('a') };
}

describe('tree rows', () => {
  it('shows a running download with percent, throughput and ETA, and a stable aria-label prefix', () => {
    const row = downloadRow(running());
    assert.equal(row.label, 'model.bin');
    assert.equal(row.description, '42% · 73.2 MB/s · ETA 1m 05s');
    assert.equal(row.ariaLabel, 'Download model.bin, downloading, 42 percent');
    assert.equal(row.icon?.id, 'cloud-download');
    assert.equal(row.contextValue, 'download+running+pausable+cancellable+streamable');
  });

  it('names a download from the request before the first snapshot', () => {
    const row = downloadRow({ id: 'a', request: sampleRequest('data.iso'), status: 'starting', addedAt: 0 });
    assert.equal(row.label, 'data.iso');
    assert.ok(row.ariaLabel.startsWith('Download data.iso, starting'));
  });

  it('shows why an interrupted download stopped', () => {
    const record = { ...running(), status: 'interrupted' as const, error: { code: 'E_INTERRUPTED', message: 'the engine worker stopped' } };
    assert.match(downloadRow(record).description ?? '', /interrupted · the engine worker stopped/);
  });

  it('shows a source with rank, state, speed, latency, share and strikes; the tooltip says why', () => {
    const row = sourceRow(sampleSource({ strikes: 2, state: 'slow', reason: 'slow: 0.4 MB/s, a quarter of the median' }));
    assert.equal(row.label, '#1 mirror-a.test:8080');
    assert.equal(row.description, 'slow · 38.2 MB/s · 12 ms · 41% of bytes · 2 strikes');
    assert.ok(row.tooltip.startsWith('slow: slow: 0.4 MB/s, a quarter of the median'));
    assert.equal(row.ariaLabel, 'Source mirror-a.test:8080, slow, rank 1');
  });

  it('names the route of a proxied source and leaves unranked sources unnumbered', () => {
    const row = sourceRow(sampleSource({ route: 'http://proxy.test:3128', rank: 0, state: 'banned' }));
    assert.equal(row.label, '– mirror-a.test:8080 via proxy.test:3128');
    assert.equal(row.icon?.id, 'error');
  });

  it('shows why a banned or excluded source is out instead of its (zero) speed', () => {
    const banned = sourceRow(sampleSource({ rank: 0, state: 'banned', reason: 'sent corrupt data for piece 60', bytesPerSecond: 0, share: 0.03, strikes: 1 }));
    assert.equal(banned.description, 'banned · sent corrupt data for piece 60 · 3% of bytes · 1 strike');
    assert.equal(banned.ariaLabel, 'Source mirror-a.test:8080, banned, rank none');
    const excluded = sourceRow(sampleSource({ rank: 0, state: 'excluded', reason: 'excluded: HTTP 404', share: 0 }));
    assert.equal(excluded.description, 'excluded · HTTP 404 · 0% of bytes');
  });

  it('explains the score in the tooltip: each input with its value, its effect and the fact behind it', () => {
    const row = sourceRow(sampleSource({
      cost: 2,
      location: 'de',
      score: 0.71,
      expensiveShareCap: 0.25,
      localAddress: '192.0.2.7',
      scoreInputs: {
        throughput: { value: 0.8, contribution: 0.42 },
        latency: { value: 1, contribution: 0.09 },
        errors: { value: 1, contribution: 0.14 },
        priority: { value: 0, contribution: 0 },
        cost: { value: 0, contribution: 0 },
        location: { value: 1, contribution: 0.07 },
        external: { value: 0.9, contribution: 0.12 },
      },
    }));
    const lines = row.tooltip.split('\n');
    const from = lines.indexOf('score 0.71 =');
    assert.ok(from > 0, row.tooltip);
    assert.deepEqual(lines.slice(from + 1, from + 8), [
      '  throughput: 0.80 → +0.42',
      '  latency: 1.00 → +0.09',
      '  errors: 1.00 → +0.14',
      '  priority 0: 0.00 → +0.00',
      '  cost 2: 0.00 → +0.00; sources with a cost carry at most 25% of the bytes',
      '  location de (yours): 1.00 → +0.07',
      '  external service: 0.90 → +0.12',
    ]);
    assert.ok(lines.includes('from local address 192.0.2.7'), row.tooltip);
    assert.match(sourceRow(sampleSource({ encoding: 'gzip' })).tooltip, /^serves a gzip copy: decoded as one stream from byte 0/m);
  });

  it('says which ranking inputs do not count instead of showing zeros', () => {
    const row = sourceRow(sampleSource({
      scoreInputs: {
        throughput: { value: 1, contribution: 0.57 },
        latency: { value: 0.5, contribution: 0.06 },
        errors: { value: 1, contribution: 0.17 },
        priority: { value: 0, contribution: 0 },
        cost: { value: 1, contribution: 0.14 },
        location: { contribution: 0 },
        external: { contribution: 0 },
      },
    }));
    assert.match(row.tooltip, /^ {2}cost 0 \(free\): 1\.00 → \+0\.14$/m);
    assert.match(row.tooltip, /^ {2}location: not counted \(no location of yours is set\)$/m);
    assert.match(row.tooltip, /^ {2}external: not counted \(no answer from the ranking service\)$/m);
  });

  it('orders sources by rank with unranked ones last', () => {
    const ordered = sourcesInRankOrder([sampleSource({ id: 1, rank: 0 }), sampleSource({ id: 2, rank: 2 }), sampleSource({ id: 3, rank: 1 })]);
    assert.deepEqual(ordered.map((source) => source.id), [3, 2, 1]);
  });

  it('shows a segment with its byte range, source and progress', () => {
    const row = segmentRow({ id: 7, sourceId: 0, start: 0, end: 4_000_000, cursor: 1_000_000, racing: true }, [sampleSource()]);
    assert.equal(row.label, '0 B – 4.0 MB');
    assert.equal(row.description, 'mirror-a.test:8080 · 25% · racing');
    assert.equal(row.ariaLabel, 'Segment 0 to 4000000 from mirror-a.test:8080, 25 percent');
  });

  it('summarises pieces as verified / total', () => {
    assert.equal(piecesRow(running()).description, '40 / 96 verified');
  });
});

describe('status bar summary', () => {
  it('shows total throughput and the number of active downloads', () => {
    const summary = throughputSummary({ bytesPerSecond: 73_200_000, active: 2 });
    assert.deepEqual(summary, {
      visible: true,
      text: '$(cloud-download) 73.2 MB/s · 2 active',
      tooltip: 'Artifact Fetch: 2 downloads active — click to show them',
      ariaLabel: 'Artifact Fetch: 73.2 megabytes per second, 2 downloads active',
    });
  });

  it('hides when idle', () => {
    assert.equal(throughputSummary({ bytesPerSecond: 0, active: 0 }).visible, false);
  });
});
