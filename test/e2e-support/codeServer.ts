/**
 * Starts a real VS Code (code-server from tools/, see scripts/e2e/setup.js) on loopback with every
 * folder inside .e2e/<name>/, and a headless Chromium to drive it. Shared by the extension-host
 * runner and the UI suite. Nothing touches $HOME: --config, --user-data-dir, --extensions-dir and
 * XDG_DATA_HOME all point into the run folder.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import * as env from '../../scripts/e2e/e2eEnv';

/** How one code-server instance is set up. */
export interface CodeServerOptions {
  /** Run folder name under .e2e/ (wiped first). */
  name: string;
  /** Files to put into the workspace folder before start, relative path → content. */
  workspaceFiles?: Record<string, string | Buffer>;
  /** Extra user settings (User/settings.json) on top of the quiet defaults. */
  userSettings?: Record<string, unknown>;
  /** Install this .vsix into the fresh extensions folder before start. */
  vsix?: string;
  /** Leave workspace trust on (the folder then opens in Restricted Mode); default off. */
  workspaceTrust?: boolean;
  /** Extra environment for the server, which the remote extension host inherits. */
  env?: Record<string, string>;
}

/** A running code-server. */
export interface CodeServer {
  /** `http://127.0.0.1:PORT`. */
  readonly origin: string;
  /** `127.0.0.1:PORT`: the authority of `vscode-remote://` URIs in this server's workbench. */
  readonly authority: string;
  /** The run folder (.e2e/<name>). */
  readonly runDir: string;
  /** The workspace folder opened by {@link workbenchUrl}. */
  readonly workspace: string;
  readonly userDataDir: string;
  readonly logFile: string;
  /** Workbench URL for the workspace; `payload` adds e.g. extensionDevelopmentPath. */
  workbenchUrl(payload?: Array<[string, string]>): string;
  /** A `vscode-remote://` URI of an absolute server path. */
  remoteUri(absolutePath: string): string;
  stop(): Promise<void>;
}

/** Settings that keep the workbench deterministic and quiet. */
const QUIET_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'git.enabled': false,
  'git.autoRepositoryDetection': false,
  'security.workspace.trust.startupPrompt': 'never',
  'security.workspace.trust.banner': 'always',
};

/** Fails with the fix when setup has not run, rather than skipping anything. */
export function requireTools(): void {
  if (env.installedCodeServerVersion() !== env.CODE_SERVER_VERSION || !fs.existsSync(env.CODE_SERVER_BIN)) {
    throw new Error(`code-server ${env.CODE_SERVER_VERSION} is not installed in ${env.TOOLS_DIR}: run \`npm run test:e2e:setup\` first`);
  }
  if (!fs.existsSync(env.chromiumBin())) {
    throw new Error(`no Chromium at ${env.chromiumBin()}: \`apt-get install -y chromium\` or set CHROMIUM_BIN (\`npm run test:e2e:setup\` checks both)`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForHealth(origin: string, child: ChildProcess, logFile: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}; see ${logFile}`);
    try {
      const response = await fetch(`${origin}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`code-server did not answer ${origin}/healthz within ${timeoutMs} ms; see ${logFile}`);
}

function stopProcessGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return Promise.resolve();
  const pid = child.pid;
  return new Promise((resolve) => {
    const killTimer = setTimeout(() => {
      try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
    }, 5_000);
    child.once('exit', () => {
      clearTimeout(killTimer);
      // The extension host and pty host are in the same process group; make sure none outlives us.
      try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
      resolve();
    });
    try { process.kill(-pid, 'SIGTERM'); } catch { resolve(); }
  });
}

/** Wipes .e2e/<name>, writes settings and workspace files, installs the vsix if given, starts code-server. */
export async function startCodeServer(options: CodeServerOptions): Promise<CodeServer> {
  requireTools();
  const runDir = path.join(env.E2E_DIR, options.name);
  fs.rmSync(runDir, { recursive: true, force: true });
  const userDataDir = path.join(runDir, 'user-data');
  const extensionsDir = path.join(runDir, 'extensions');
  const workspace = path.join(runDir, 'workspace');
  const logFile = path.join(runDir, 'code-server.log');
  // code-server --install-extension fails with ENOENT (User/globalStorage) unless these exist.
  for (const dir of [path.join(userDataDir, 'User'), extensionsDir, workspace]) fs.mkdirSync(dir, { recursive: true });
  const settings = { ...QUIET_SETTINGS, 'security.workspace.trust.enabled': options.workspaceTrust ?? false, ...options.userSettings };
  fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
  for (const [relative, content] of Object.entries(options.workspaceFiles ?? {})) {
    const file = path.join(workspace, relative);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }

  const common = ['--config', path.join(runDir, 'config.yaml'), '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
  const serverEnv: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_DATA_HOME: path.join(runDir, 'xdg-data'),
    XDG_CONFIG_HOME: path.join(runDir, 'xdg-config'),
    // No Open VSX lookups (offline they only make log noise).
    EXTENSIONS_GALLERY: '{}',
    ...options.env,
  };
  if (options.vsix) {
    const install = spawnSync(env.CODE_SERVER_BIN, [...common, '--install-extension', options.vsix, '--force'], { encoding: 'utf8', env: serverEnv, timeout: 60_000 });
    if (install.status !== 0 || !/successfully installed/i.test(install.stdout)) {
      throw new Error(`installing ${options.vsix} failed (exit ${install.status}):\n${install.stdout}\n${install.stderr}`);
    }
  }

  const port = await freePort();
  const authority = `127.0.0.1:${port}`;
  const origin = `http://${authority}`;
  const log = fs.openSync(logFile, 'a');
  const args = [
    ...common,
    '--auth', 'none',
    '--bind-addr', authority,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
    ...(options.workspaceTrust ? [] : ['--disable-workspace-trust']),
    workspace,
  ];
  const child = spawn(env.CODE_SERVER_BIN, args, { env: serverEnv, stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  try {
    await waitForHealth(origin, child, logFile);
  } catch (error) {
    await stopProcessGroup(child);
    throw error;
  }

  const remoteUri = (absolutePath: string) => `vscode-remote://${authority}${absolutePath}`;
  return {
    origin,
    authority,
    runDir,
    workspace,
    userDataDir,
    logFile,
    remoteUri,
    workbenchUrl(payload) {
      const query = new URLSearchParams({ folder: workspace });
      if (payload && payload.length > 0) query.set('payload', JSON.stringify(payload));
      return `${origin}/?${query.toString()}`;
    },
    stop: () => stopProcessGroup(child),
  };
}

/** Headless Chromium (CHROMIUM_BIN or /usr/bin/chromium) with the loopback-only flags. */
export function launchBrowser(): Promise<Browser> {
  const home = path.join(env.E2E_DIR, 'chromium-home');
  return chromium.launch({
    executablePath: env.chromiumBin(),
    headless: true,
    args: [...env.CHROMIUM_ARGS],
    // Chromium keeps crash reports under XDG_CONFIG_HOME; not in $HOME.
    env: { ...process.env, XDG_CONFIG_HOME: path.join(home, 'config'), XDG_CACHE_HOME: path.join(home, 'cache') },
  });
}
