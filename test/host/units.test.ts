import * as assert from 'node:assert/strict';
import { formatBytes, formatEta, formatLatency, formatRate, formatRateSpoken, formatShare, percentDone } from '../../src/model/units';

describe('units', () => {
  it('formats throughput in decimal megabytes with one decimal', () => {
    assert.equal(formatRate(73_200_000), '73.2 MB/s');
    assert.equal(formatRate(512), '512 B/s');
    assert.equal(formatRate(1_250_000_000), '1.3 GB/s');
    assert.equal(formatRate(150_000_000), '150 MB/s');
    assert.equal(formatRateSpoken(73_200_000), '73.2 megabytes per second');
  });

  it('formats sizes', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1_234_567), '1.2 MB');
  });

  it('formats ETAs as seconds, minutes or hours and hides unknown ones', () => {
    assert.equal(formatEta(45), '45s');
    assert.equal(formatEta(65), '1m 05s');
    assert.equal(formatEta(2 * 3600 + 3 * 60 + 10), '2h 03m');
    assert.equal(formatEta(1e9), '> 99h');
    assert.equal(formatEta(undefined), undefined);
    assert.equal(formatEta(Number.POSITIVE_INFINITY), undefined);
  });

  it('never shows 100 percent before the last byte, and nothing when the size is unknown', () => {
    assert.equal(percentDone(999, 1000), 99);
    assert.equal(percentDone(1000, 1000), 100);
    assert.equal(percentDone(420, 1000), 42);
    assert.equal(percentDone(5, 0), undefined);
  });

  it('formats shares and latencies', () => {
    assert.equal(formatShare(0.414), '41%');
    assert.equal(formatLatency(12.4), '12 ms');
    assert.equal(formatLatency(1234), '1.2 s');
  });
});
