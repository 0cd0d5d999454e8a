/**
 * Runs the extension-host suite (dist/test/vscode, built by scripts/e2e/buildTests.js) inside
 * code-server's remote Node extension host. The extension loads from this development folder:
 * the workbench URL carries `payload=[["extensionDevelopmentPath", …], ["extensionTestsPath", …]]`,
 * the workbench runs the tests, then calls `window.codeAutomationExit(code)`, which Playwright
 * exposes. Two passes, each with a fresh code-server:
 *   trusted     every suite but restricted.e2e.js (workspace trust disabled);
 *   restricted  restricted.e2e.js, with trust enabled and the folder untrusted (Restricted Mode),
 *               and a .vscode/settings.json that tries to move downloads and add a mirror.
 *
 *   npx tsx test/e2e-support/runExtHostSuite.ts [trusted|restricted ...]
 * Env: E2E_GREP (mocha grep inside the extension host), CHROMIUM_BIN, E2E_TOOLS_DIR.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as env from '../../scripts/e2e/e2eEnv';
import { CONSOLE_MARKER } from '../vscode/suiteLog';
import { launchBrowser, startCodeServer } from './codeServer';

type Mode = 'trusted' | 'restricted';

/**
 * The restricted pass's .vscode/settings.json: it tries to move downloads and to add a mirror
 * (restricted settings), and sets connectionsPerSource (not restricted, so it shows the file is read).
 */
const UNTRUSTED_WORKSPACE_SETTINGS = fs.readFileSync(path.join(env.ROOT, 'test', 'vscode', 'untrustedWorkspaceSettings.json'), 'utf8');

const PASS_TIMEOUT_MS = 240_000;

interface Results {
  passes: number;
  failures: number;
  pending: number;
  pid: number;
  tests: Array<{ title: string; state: string; error?: string }>;
}

/** The suite's console line (test/vscode/index.ts marks them), without the workbench's log prefix. */
function extensionHostLine(text: string): string | undefined {
  const at = text.indexOf(CONSOLE_MARKER);
  return at < 0 ? undefined : text.slice(at + CONSOLE_MARKER.length);
}

async function runPass(mode: Mode): Promise<boolean> {
  const started = Date.now();
  const name = `exthost-${mode}`;
  const resultsFile = path.join(env.E2E_DIR, `${name}-results.json`);
  fs.rmSync(resultsFile, { force: true });
  const testsEntry = path.join(env.ROOT, 'dist', 'test', 'vscode', 'index.js');
  if (!fs.existsSync(testsEntry)) throw new Error(`${testsEntry} is missing: run \`node scripts/e2e/buildTests.js\``);
  if (!fs.existsSync(path.join(env.ROOT, 'dist', 'extension.js'))) throw new Error('dist/extension.js is missing: run `npm run build`');

  const server = await startCodeServer({
    name,
    workspaceTrust: mode === 'restricted',
    workspaceFiles: mode === 'restricted' ? { '.vscode/settings.json': UNTRUSTED_WORKSPACE_SETTINGS } : {},
    env: { E2E_TRUST_MODE: mode, E2E_RESULTS_FILE: resultsFile, ...(process.env.E2E_GREP ? { E2E_GREP: process.env.E2E_GREP } : {}) },
  });
  const browser = await launchBrowser();
  let exitCode: number | undefined;
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    let exit: (code: number) => void = () => undefined;
    const exited = new Promise<number>((resolve) => { exit = resolve; });
    await page.exposeFunction('codeAutomationExit', (code: number) => exit(code));
    await page.exposeFunction('codeAutomationLog', () => undefined);
    page.on('console', (message) => {
      const line = extensionHostLine(message.text());
      if (line !== undefined) process.stdout.write(`${line}\n`);
    });
    page.on('pageerror', (error) => console.error(`[page error] ${error.message}`));
    const url = server.workbenchUrl([
      ['extensionDevelopmentPath', server.remoteUri(env.ROOT)],
      ['extensionTestsPath', server.remoteUri(testsEntry)],
    ]);
    console.log(`\n== extension-host suite, ${mode} (code-server ${server.origin}, run folder ${path.relative(env.ROOT, server.runDir)})`);
    await page.goto(url);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<number>((resolve) => { timer = setTimeout(() => resolve(-1), PASS_TIMEOUT_MS); });
    exitCode = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    fs.mkdirSync(env.SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(env.SCREENSHOT_DIR, `${name}-after-tests.png`) }).catch(() => undefined);
  } finally {
    await browser.close().catch(() => undefined);
    await server.stop();
  }

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (exitCode === -1) {
    console.error(`${mode}: no result within ${PASS_TIMEOUT_MS / 1000} s; see ${server.logFile} and ${server.userDataDir}/logs`);
    return false;
  }
  if (!fs.existsSync(resultsFile)) {
    console.error(`${mode}: the extension host exited with ${exitCode} and wrote no results (did the extension or the test entry fail to load?); see ${server.userDataDir}/logs`);
    return false;
  }
  const results = JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as Results;
  const ok = exitCode === 0 && results.failures === 0 && results.pending === 0 && results.passes > 0;
  console.log(`${mode}: ${results.passes} passing, ${results.failures} failing, ${results.pending} pending in extension host pid ${results.pid}; exit code ${exitCode}; ${seconds} s`);
  for (const test of results.tests.filter((entry) => entry.state !== 'passed')) console.error(`  ${test.state}: ${test.title}\n${test.error ?? ''}`);
  return ok;
}

async function main(): Promise<void> {
  const requested = process.argv.slice(2).filter((arg): arg is Mode => arg === 'trusted' || arg === 'restricted');
  const modes: Mode[] = requested.length > 0 ? requested : ['trusted', 'restricted'];
  let ok = true;
  for (const mode of modes) ok = (await runPass(mode)) && ok;
  process.exitCode = ok ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exitCode = 1;
});
