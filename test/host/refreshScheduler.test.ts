import * as assert from 'node:assert/strict';
import { REFRESH_ALL, RefreshScheduler, type SchedulerClock } from '../../src/model/refreshScheduler';

/** A clock tests move by hand. */
class ManualClock implements SchedulerClock {
  time = 0;
  private timers: Array<{ at: number; callback: () => void; id: number }> = [];
  private nextId = 1;
  now(): number { return this.time; }
  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.time + ms, callback, id });
    return id;
  }
  clearTimeout(handle: unknown): void { this.timers = this.timers.filter((timer) => timer.id !== handle); }
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((timer) => timer.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.time = due.at;
      due.callback();
    }
    this.time = end;
  }
}

describe('RefreshScheduler', () => {
  let clock: ManualClock;
  let flushes: Array<{ at: number; keys: string[] | 'all' }>;
  let scheduler: RefreshScheduler<string>;

  beforeEach(() => {
    clock = new ManualClock();
    flushes = [];
    scheduler = new RefreshScheduler<string>(300, (keys) => flushes.push({ at: clock.now(), keys: keys === REFRESH_ALL ? 'all' : [...keys].sort() }), clock);
  });

  it('flushes the first request at once', () => {
    scheduler.request('a');
    assert.deepEqual(flushes, [{ at: 0, keys: ['a'] }]);
  });

  it('keeps at least 300 ms between progress flushes however often it is asked (VS Code debounce)', () => {
    for (let t = 0; t < 3000; t += 50) {
      scheduler.request(t % 100 === 0 ? 'a' : 'b');
      clock.advance(50);
    }
    const gaps = flushes.slice(1).map((flush, i) => flush.at - flushes[i].at);
    assert.ok(flushes.length >= 9 && flushes.length <= 11, `flushed ${flushes.length} times in 3 s`);
    assert.ok(gaps.every((gap) => gap >= 300), `gaps ${gaps.join(',')}`);
  });

  it('merges keys requested during the wait into one flush', () => {
    scheduler.request('a');
    clock.advance(100);
    scheduler.request('b');
    scheduler.request('c');
    clock.advance(200);
    assert.deepEqual(flushes, [{ at: 0, keys: ['a'] }, { at: 300, keys: ['b', 'c'] }]);
  });

  it('flushes urgent requests (state changes) at once, with whatever was pending', () => {
    scheduler.request('a');
    clock.advance(10);
    scheduler.request('b');
    scheduler.request('c', true);
    assert.deepEqual(flushes, [{ at: 0, keys: ['a'] }, { at: 10, keys: ['b', 'c'] }]);
    clock.advance(1000);
    assert.equal(flushes.length, 2, 'the pending timer was cancelled by the urgent flush');
  });

  it('turns any pending request into a full refresh when the list changed', () => {
    scheduler.request('a');
    scheduler.request('b');
    scheduler.request(REFRESH_ALL, true);
    assert.deepEqual(flushes.at(-1), { at: 0, keys: 'all' });
  });

  it('does nothing after dispose', () => {
    scheduler.request('a');
    scheduler.request('b');
    scheduler.dispose();
    clock.advance(1000);
    scheduler.request('c', true);
    assert.equal(flushes.length, 1);
  });
});
