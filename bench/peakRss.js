'use strict';
/**
 * Preloaded into our CLI by the bench (`node --require bench/peakRss.js dist/cli.js …`): at exit,
 * writes the process's peak resident set (bytes, threads included) to $BENCH_PEAK_RSS_FILE.
 * Exact, unlike polling /proc, which can miss a peak in its last interval.
 */
const fs = require('node:fs');
const { isMainThread } = require('node:worker_threads');

const target = process.env.BENCH_PEAK_RSS_FILE;
if (target && isMainThread) {
  process.on('exit', () => {
    try {
      fs.writeFileSync(target, String(process.resourceUsage().maxRSS * 1024));
    } catch {
      // The bench falls back to its /proc polling.
    }
  });
}
