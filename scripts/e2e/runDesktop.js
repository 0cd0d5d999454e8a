'use strict';
/**
 * `npm run test:desktop`: the same extension-host suite (dist/test/vscode/index.js, whose run()
 * also serves code-server) in desktop VS Code through @vscode/test-electron.
 *
 * NEEDS INTERNET: @vscode/test-electron downloads VS Code from Microsoft (cached in
 * .vscode-test/). Not run by `npm run test:e2e` or CI here, which have no such access. On Linux
 * without a display, run it under Xvfb: `xvfb-run -a npm run test:desktop`.
 *
 * Two passes, like test/e2e-support/runExtHostSuite.ts:
 *   trusted     runTests() (it always passes --disable-workspace-trust);
 *   restricted  the downloaded VS Code started directly without that flag, trust enabled in the
 *               user settings and a .vscode/settings.json trying restricted settings.
 * The loopback mirrors are started inside the extension host by the suites themselves.
 *
 * Env: VSCODE_TEST_VERSION  VS Code version (default 1.100.3, the engines.vscode floor; or `stable`)
 *      E2E_GREP             mocha grep inside the extension host
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { downloadAndUnzipVSCode, runTests } = require('@vscode/test-electron');

const ROOT = path.resolve(__dirname, '..', '..');
const RUN_DIR = path.join(ROOT, '.e2e', 'desktop');
const TESTS_ENTRY = path.join(ROOT, 'dist', 'test', 'vscode', 'index.js');
const VERSION = process.env.VSCODE_TEST_VERSION || '1.100.3';

/** A fresh workspace and user-data folder for one pass; returns the launch arguments. */
function preparePass(mode) {
  const dir = path.join(RUN_DIR, mode);
  fs.rmSync(dir, { recursive: true, force: true });
  const workspace = path.join(dir, 'workspace');
  const userData = path.join(dir, 'user-data');
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'extensions'), { recursive: true });
  fs.mkdirSync(workspace, { recursive: true });
  const settings = {
    'workbench.startupEditor': 'none',
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoUpdate': false,
    'security.workspace.trust.enabled': mode === 'restricted',
    'security.workspace.trust.startupPrompt': 'never',
  };
  fs.writeFileSync(path.join(userData, 'User', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
  if (mode === 'restricted') {
    fs.mkdirSync(path.join(workspace, '.vscode'));
    fs.copyFileSync(path.join(ROOT, 'test', 'vscode', 'untrustedWorkspaceSettings.json'), path.join(workspace, '.vscode', 'settings.json'));
  }
  const env = { E2E_TRUST_MODE: mode, E2E_RESULTS_FILE: path.join(dir, 'results.json') };
  if (process.env.E2E_GREP) env.E2E_GREP = process.env.E2E_GREP;
  return { args: [workspace, '--user-data-dir', userData, '--extensions-dir', path.join(dir, 'extensions'), '--disable-extensions'], env };
}

async function trustedPass(vscodeExecutablePath) {
  const { args, env } = preparePass('trusted');
  return runTests({ vscodeExecutablePath, extensionDevelopmentPath: ROOT, extensionTestsPath: TESTS_ENTRY, launchArgs: args, extensionTestsEnv: env });
}

/** runTests() always adds --disable-workspace-trust, so this pass starts VS Code itself. */
function restrictedPass(vscodeExecutablePath) {
  const { args, env } = preparePass('restricted');
  const all = [
    ...args,
    '--no-sandbox',
    '--disable-gpu-sandbox',
    '--disable-updates',
    '--skip-welcome',
    '--skip-release-notes',
    `--extensionDevelopmentPath=${ROOT}`,
    `--extensionTestsPath=${TESTS_ENTRY}`,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(vscodeExecutablePath, all, { env: { ...process.env, ...env }, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main() {
  if (!fs.existsSync(TESTS_ENTRY)) throw new Error(`${TESTS_ENTRY} is missing: run \`node scripts/e2e/buildTests.js\``);
  console.log(`test:desktop: downloading VS Code ${VERSION} (needs internet; cached in .vscode-test/)`);
  const vscodeExecutablePath = await downloadAndUnzipVSCode(VERSION);
  let failed = false;
  for (const [mode, pass] of [['trusted', trustedPass], ['restricted', restrictedPass]]) {
    console.log(`\n== desktop VS Code ${VERSION}, ${mode}`);
    let code;
    try {
      code = await pass(vscodeExecutablePath);
    } catch (error) {
      console.error(`${mode}: ${error.message ?? error}`);
      code = 1;
    }
    console.log(`${mode}: exit code ${code}`);
    failed = failed || code !== 0;
  }
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
