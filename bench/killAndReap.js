'use strict';

/**
 * Kills a child process (with `kill`, which may signal its whole group) and resolves once Node
 * has reaped it: only then does its CPU time count in the parent's /proc cutime, before the next
 * measured run starts rather than during it.
 */
function killAndReap(child, kill) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    try {
      kill();
    } catch {
      // Already gone: its 'exit' comes anyway.
    }
  });
}

module.exports = { killAndReap };
