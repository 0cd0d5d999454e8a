'use strict';
/**
 * Bundles the extension-host suite (test/vscode) for VS Code to load: dist/test/vscode/index.js
 * (the `extensionTestsPath` entry) and one dist/test/vscode/<name>.e2e.js per suite file, each
 * with the loopback harness inside. `vscode` and `mocha` stay external: the extension host
 * provides the first, the project's node_modules the second. Separate from esbuild.js so the
 * extension build stays as it is; dist/test is not in the .vsix (.vscodeignore lists only bundles).
 */
const esbuild = require('esbuild');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const SUITE_DIR = path.join(ROOT, 'test', 'vscode');
const OUT_DIR = path.join(ROOT, 'dist', 'test', 'vscode');

async function main() {
  const entryPoints = Object.fromEntries(
    fs.readdirSync(SUITE_DIR)
      .filter((file) => file === 'index.ts' || file.endsWith('.e2e.ts'))
      .map((file) => [file.replace(/\.ts$/, ''), path.join(SUITE_DIR, file)]),
  );
  fs.rmSync(OUT_DIR, { recursive: true, force: true });
  const result = await esbuild.build({
    entryPoints,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    sourcesContent: false,
    outdir: OUT_DIR,
    external: ['vscode', 'mocha'],
    logLevel: 'warning',
  });
  if (result.errors.length > 0) process.exit(1);
  console.log(`extension-host suite: ${Object.keys(entryPoints).length} bundles in ${path.relative(ROOT, OUT_DIR)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
