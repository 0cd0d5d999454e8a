/**
 * The extension-host test entry (`extensionTestsPath`): VS Code requires this module inside the
 * extension host and awaits `run()`. The same file serves code-server's remote extension host
 * (test/e2e-support/runExtHostSuite.ts, via the workbench `payload` URL) and desktop VS Code
 * (scripts/e2e/runDesktop.js, via @vscode/test-electron).
 *
 * Env: E2E_TRUST_MODE    `trusted` (default: every *.e2e.js but restricted) or `restricted`
 *                        (only restricted.e2e.js; the runner opens the folder in Restricted Mode)
 *      E2E_RESULTS_FILE  where to write a JSON summary for the runner
 *      E2E_GREP          mocha grep
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';
import { suiteLog } from './suiteLog';

/** One test's outcome in the results file. */
interface TestOutcome {
  title: string;
  state: 'passed' | 'failed' | 'pending';
  durationMs?: number;
  error?: string;
}

/** Written to E2E_RESULTS_FILE when the run ends. */
export interface SuiteResults {
  mode: string;
  pid: number;
  node: string;
  tests: TestOutcome[];
  passes: number;
  failures: number;
  pending: number;
}

const RESTRICTED_FILE = 'restricted.e2e.js';
export function run(): Promise<void> {
  const mode = process.env.E2E_TRUST_MODE === 'restricted' ? 'restricted' : 'trusted';
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: 'spec', grep: process.env.E2E_GREP || undefined });
  const files = fs.readdirSync(__dirname)
    .filter((file) => file.endsWith('.e2e.js'))
    .filter((file) => (mode === 'restricted') === (file === RESTRICTED_FILE))
    .sort();
  if (files.length === 0) return Promise.reject(new Error(`no *.e2e.js next to ${__filename}: run scripts/e2e/buildTests.js`));
  for (const file of files) mocha.addFile(path.join(__dirname, file));
  // Mocha's reporters print through Base.consoleLog (with `%s` templates): route it through suiteLog.
  Mocha.reporters.Base.consoleLog = suiteLog;
  suiteLog(`extension host: pid ${process.pid}, node ${process.version}, mode ${mode}, files ${files.join(' ')}`);

  const tests: TestOutcome[] = [];
  return new Promise<void>((resolve, reject) => {
    const runner = mocha.run((failures) => {
      const results: SuiteResults = {
        mode,
        pid: process.pid,
        node: process.version,
        tests,
        passes: tests.filter((test) => test.state === 'passed').length,
        failures,
        pending: tests.filter((test) => test.state === 'pending').length,
      };
      if (process.env.E2E_RESULTS_FILE) fs.writeFileSync(process.env.E2E_RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
      // A skipped test proves nothing; the suite has none on purpose, so one counts as a failure.
      if (failures > 0 || results.pending > 0) reject(new Error(`${failures} failed, ${results.pending} pending`));
      else resolve();
    });
    runner.on('pass', (test) => tests.push({ title: test.fullTitle(), state: 'passed', durationMs: test.duration }));
    runner.on('fail', (test, error: Error) => tests.push({ title: test.fullTitle(), state: 'failed', durationMs: test.duration, error: error?.stack ?? String(error) }));
    runner.on('pending', (test) => tests.push({ title: test.fullTitle(), state: 'pending' }));
  });
}
