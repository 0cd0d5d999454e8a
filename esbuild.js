// Builds every bundle from one script: the extension host entry, the engine worker, the CLI and the demo.
// `--watch` rebuilds on change, `--production` minifies and drops source maps.
// The CLI is two files: dist/cli.js (launcher.ts) loads dist/cli-main.js (main.ts) from the V8 code
// cache this script makes next to it after each build (src/cli/codeCache.ts).
const esbuild = require('esbuild');

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/** Prints build errors in the format VS Code's esbuild problem matcher understands. */
const problemMatcherPlugin = {
  name: 'esbuild-problem-matcher',
  setup(build) {
    build.onStart(() => { if (watch) console.log('[watch] build started'); });
    build.onEnd((result) => {
      for (const { text, location } of result.errors) {
        console.error(`✘ [ERROR] ${text}`);
        if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
      }
      if (watch) console.log('[watch] build finished');
    });
  },
};

const entryPoints = {
  extension: 'src/extension.ts',
  worker: 'src/worker/workerMain.ts',
  cli: 'src/cli/launcher.ts',
  'cli-main': 'src/cli/main.ts',
  demo: 'src/cli/demo.ts',
};

async function main() {
  const fs = require('node:fs');
  const present = Object.fromEntries(Object.entries(entryPoints).filter(([, file]) => fs.existsSync(file)));
  const ctx = await esbuild.context({
    entryPoints: present,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    minify: production,
    sourcemap: !production,
    sourcesContent: false,
    outdir: 'dist',
    external: ['vscode'],
    logLevel: 'silent',
    plugins: [problemMatcherPlugin],
  });
  if (watch) {
    await ctx.watch();
  } else {
    const result = await ctx.rebuild();
    await ctx.dispose();
    if (result.errors.length > 0) process.exit(1);
    if (present.cli) writeCliCodeCache();
  }
}

/**
 * Runs the fresh CLI once (`--version`) with the cache switch on: at exit it writes
 * dist/cli-main.js.cache. A failure only costs the cache, never the build.
 */
function writeCliCodeCache() {
  const { spawnSync } = require('node:child_process');
  const run = spawnSync(process.execPath, ['dist/cli.js', '--version'], {
    env: { ...process.env, ARTIFACT_FETCH_WRITE_CODE_CACHE: '1' },
    encoding: 'utf8',
  });
  if (run.status !== 0) console.error(`esbuild.js: no code cache for the CLI (${(run.stderr || run.error || '').toString().trim()})`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
