'use strict';
/**
 * `npm run test:e2e`: both real-VS-Code suites, each step timed.
 *   1. setup       scripts/e2e/setup.js (a no-op of ~1 s when tools/ already has code-server)
 *   2. package     npm run package → dist/artifact-fetch.vsix (production build)
 *   3. build       node esbuild.js (dev build with source maps for the development-folder run)
 *                  + scripts/e2e/buildTests.js (dist/test/vscode)
 *   4. exthost     test/e2e-support/runExtHostSuite.ts: mocha inside code-server's extension
 *                  host, extension loaded from this folder; a trusted and a restricted pass
 *   5. ui          test/e2e-ui/download.e2e.ts: mocha + playwright-core against the installed .vsix
 *
 *   node scripts/e2e/run.js [exthost|ui]    (default: both)
 * Stops at the first failing step and exits 1. Timings go to .e2e/timings.json as well.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const env = require('./e2eEnv');

const bin = (name) => path.join(env.ROOT, 'node_modules', '.bin', name);
const only = process.argv[2];
const wanted = (suite) => !only || only === suite;

const steps = [
  { name: 'setup', command: process.execPath, args: [path.join(__dirname, 'setup.js')] },
  { name: 'package', command: 'npm', args: ['run', '--silent', 'package'], when: wanted('ui') },
  { name: 'build', command: process.execPath, args: [path.join(env.ROOT, 'esbuild.js')] },
  { name: 'build tests', command: process.execPath, args: [path.join(__dirname, 'buildTests.js')], when: wanted('exthost') },
  { name: 'exthost', command: bin('tsx'), args: [path.join(env.ROOT, 'test', 'e2e-support', 'runExtHostSuite.ts')], when: wanted('exthost') },
  {
    name: 'ui',
    command: bin('mocha'),
    args: ['--no-config', '--require', 'tsx/cjs', '--extension', 'ts', '--timeout', '240000', '--bail', '--reporter', 'spec', path.join(env.ROOT, 'test', 'e2e-ui', 'download.e2e.ts')],
    when: wanted('ui'),
  },
];

function main() {
  if (only && only !== 'exthost' && only !== 'ui') {
    console.error(`unknown suite ${only}: use exthost or ui`);
    process.exit(2);
  }
  const timings = [];
  const started = Date.now();
  let failed;
  for (const step of steps.filter((entry) => entry.when !== false)) {
    console.log(`\n=== test:e2e: ${step.name}`);
    const stepStarted = Date.now();
    const result = spawnSync(step.command, step.args, { cwd: env.ROOT, stdio: 'inherit' });
    const seconds = (Date.now() - stepStarted) / 1000;
    timings.push({ step: step.name, seconds: Number(seconds.toFixed(1)), ok: result.status === 0 });
    if (result.status !== 0) {
      failed = `${step.name} failed (exit ${result.status ?? result.signal}${result.error ? `, ${result.error.message}` : ''})`;
      break;
    }
  }
  const total = (Date.now() - started) / 1000;
  console.log('\n=== test:e2e timings');
  for (const { step, seconds, ok } of timings) console.log(`  ${step.padEnd(12)} ${seconds.toFixed(1).padStart(6)} s${ok ? '' : '  FAILED'}`);
  console.log(`  ${'total'.padEnd(12)} ${total.toFixed(1).padStart(6)} s`);
  fs.mkdirSync(env.E2E_DIR, { recursive: true });
  fs.writeFileSync(path.join(env.E2E_DIR, 'timings.json'), `${JSON.stringify({ timings, total: Number(total.toFixed(1)) }, null, 2)}\n`);
  if (failed) {
    console.error(`\ntest:e2e: ${failed}. Logs and screenshots: ${path.relative(env.ROOT, env.E2E_DIR)}/`);
    process.exit(1);
  }
  console.log('\ntest:e2e: all suites passed');
}

main();
