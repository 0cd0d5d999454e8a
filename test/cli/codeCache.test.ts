/**
 * The CLI's code cache (src/cli/codeCache.ts) on real files: a bundle loads like a CommonJS
 * module with or without a cache; a process run with the switch on writes the cache and the next
 * load uses it; a cache made from another bundle of the same length is never used (V8 alone would
 * take it), and one V8 rejects only costs the compile. The built CLI (dist/cli.js) loads its bundle
 * from the cache esbuild.js made.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cachePathOf, requireWithCodeCache, WRITE_ENV } from '../../src/cli/codeCache';

const CODE_CACHE_MODULE = path.resolve(__dirname, '../../src/cli/codeCache.ts');

describe('cli: code cache of the bundle', () => {
  let dir: string;
  let bundle: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'af-code-cache-'));
    bundle = path.join(dir, 'bundle.js');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A bundle whose exports show the module wrapper worked; `value` tells two versions apart. */
  const writeBundle = (value: string): void => {
    fs.writeFileSync(
      bundle,
      `#!/usr/bin/env node\nconst path = require('node:path');\nexports.value = ${JSON.stringify(value)};\nexports.dir = __dirname;\nexports.file = path.basename(__filename);\nmodule.exports.sum = (a, b) => a + b;\n`,
    );
  };

  /** Loads the bundle in a child process with the write switch on (as esbuild.js does). */
  const makeCacheInChild = (): void => {
    const run = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', `require(${JSON.stringify(CODE_CACHE_MODULE)}).requireWithCodeCache(${JSON.stringify(bundle)})`], {
      env: { ...process.env, [WRITE_ENV]: '1' },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
  };

  it('loads a bundle like require does when there is no cache', () => {
    writeBundle('one');
    const { exports, cache } = requireWithCodeCache(bundle);
    assert.equal(cache, 'missing');
    assert.deepEqual({ value: exports.value, dir: exports.dir, file: exports.file }, { value: 'one', dir, file: 'bundle.js' });
    assert.equal((exports.sum as (a: number, b: number) => number)(2, 3), 5);
    assert.equal(fs.existsSync(cachePathOf(bundle)), false, 'no cache written without the switch');
  });

  it('a run with the switch writes the cache, and the next load uses it', () => {
    writeBundle('one');
    makeCacheInChild();
    assert.ok(fs.statSync(cachePathOf(bundle)).size > 32);
    const { exports, cache } = requireWithCodeCache(bundle);
    assert.equal(cache, 'used');
    assert.equal(exports.value, 'one');
  });

  it('never uses the cache of another bundle of the same length', () => {
    writeBundle('one');
    makeCacheInChild();
    writeBundle('two');
    const { exports, cache } = requireWithCodeCache(bundle);
    assert.equal(cache, 'stale');
    assert.equal(exports.value, 'two');
  });

  it('a cache V8 rejects costs only the compile', () => {
    writeBundle('one');
    makeCacheInChild();
    const stored = fs.readFileSync(cachePathOf(bundle));
    // Right digest, garbage payload.
    fs.writeFileSync(cachePathOf(bundle), Buffer.concat([stored.subarray(0, 32), Buffer.alloc(stored.length - 32, 7)]));
    const { exports, cache } = requireWithCodeCache(bundle);
    assert.equal(cache, 'rejected');
    assert.equal(exports.value, 'one');
  });

  it('the built CLI (dist/cli.js) loads its bundle from the cache esbuild.js made', () => {
    const cli = path.resolve(__dirname, '../../dist/cli.js');
    const main = path.resolve(__dirname, '../../dist/cli-main.js');
    assert.ok(fs.existsSync(cachePathOf(main)), 'npm test builds dist/ first; esbuild.js writes dist/cli-main.js.cache');
    const script = `process.argv = [process.argv[0], ${JSON.stringify(cli)}, '--version'];
      const { requireWithCodeCache } = require(${JSON.stringify(CODE_CACHE_MODULE)});
      require('node:v8').setFlagsFromString('--liftoff-only');
      const { cache } = requireWithCodeCache(${JSON.stringify(main)});
      process.stderr.write('cache ' + cache + '\\n');`;
    const run = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /cache used/);
    const version = spawnSync(process.execPath, [cli, '--version'], { encoding: 'utf8' });
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
  });
});
