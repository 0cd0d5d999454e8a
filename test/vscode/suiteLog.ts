import { format } from 'node:util';

/** Marks the suite's console lines; code-server forwards them to the page console among its own logs. */
export const CONSOLE_MARKER = '[exthost] ';

/** Prints one marked line (VS Code's extension host ignores assignments to console.log, so no patching). */
export function suiteLog(...args: unknown[]): void {
  console.log(CONSOLE_MARKER + format(...args));
}
