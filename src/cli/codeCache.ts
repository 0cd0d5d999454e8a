/**
 * Loads a CommonJS bundle with V8's code cache. V8 compiles a script's whole text before its first
 * line runs: for the CLI's bundle (~0.7 MB) that is ~25 ms of every run on the machine of
 * docs/BENCHMARK.md, ~5 ms from the cache. (Node 22 caches on its own: module.enableCompileCache;
 * the extension host's Node 20 does not have it.)
 *
 * The cache is made at build time (esbuild.js runs the CLI once with WRITE_ENV set) and sits next
 * to the bundle. It starts with the SHA-256 of the bundle it was made from: V8 itself only checks
 * the source's length, and a cache of another bundle would run stale code. A cache V8 rejects (another
 * Node version, other V8 flags) or that is missing costs nothing but the normal compile.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';

/** Set to '1' by the build: the process writes the bundle's code cache when it exits. */
export const WRITE_ENV = 'ARTIFACT_FETCH_WRITE_CODE_CACHE';

const DIGEST_BYTES = 32;

/** Where the code cache of `bundlePath` lives. */
export function cachePathOf(bundlePath: string): string {
  return `${bundlePath}.cache`;
}

/** How the load used the cache (the tests check it). */
export type CacheOutcome = 'used' | 'rejected' | 'stale' | 'missing';

/**
 * Runs the CommonJS bundle at `bundlePath` the way `require` would (module, exports, require,
 * __filename, __dirname) and returns its exports, compiling it from its code cache when a valid one
 * exists.
 */
export function requireWithCodeCache(bundlePath: string): { exports: Record<string, unknown>; cache: CacheOutcome } {
  const source = fs.readFileSync(bundlePath);
  const digest = createHash('sha256').update(source).digest();
  const cacheFile = cachePathOf(bundlePath);
  let cachedData: Buffer | undefined;
  let cache: CacheOutcome = 'missing';
  try {
    const stored = fs.readFileSync(cacheFile);
    if (stored.subarray(0, DIGEST_BYTES).equals(digest)) cachedData = stored.subarray(DIGEST_BYTES);
    else cache = 'stale';
  } catch {
    // No cache: compile as usual.
  }
  // The same wrapper as Node's CommonJS loader; a shebang line stays a comment.
  const text = source.toString('utf8').replace(/^#!/, '//');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) { ${text}\n})`, {
    filename: bundlePath,
    cachedData,
  });
  if (cachedData) cache = script.cachedDataRejected ? 'rejected' : 'used';
  const module = { exports: {} as Record<string, unknown> };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper(module.exports, createRequire(bundlePath), module, bundlePath, path.dirname(bundlePath));
  if (process.env[WRITE_ENV] === '1') {
    // At exit the cache also holds the functions this run compiled, not only the top level.
    process.once('exit', () => fs.writeFileSync(cacheFile, Buffer.concat([digest, script.createCachedData()])));
  }
  return { exports: module.exports, cache };
}
