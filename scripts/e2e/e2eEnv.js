'use strict';
/**
 * Where the real-VS-Code test tools live, shared by the setup step and both e2e suites.
 * Everything stays inside the project: code-server in tools/ (git-ignored), runs in .e2e/.
 *
 * Env: E2E_TOOLS_DIR   folder holding code-server (default <repo>/tools)
 *      CHROMIUM_BIN    Chromium or Chrome to drive (default /usr/bin/chromium)
 */
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
/** code-server 4.100.3 is VS Code 1.100.3, the `engines.vscode` floor of the extension. */
const CODE_SERVER_VERSION = '4.100.3';
/** The @vscode/ripgrep that code-server's lib/vscode installs, and the asset its postinstall fetches. */
const RIPGREP_PACKAGE_VERSION = '1.15.11';
const RIPGREP_ASSET = 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz';

const TOOLS_DIR = path.resolve(process.env.E2E_TOOLS_DIR || path.join(ROOT, 'tools'));
const CODE_SERVER_BIN = path.join(TOOLS_DIR, 'node_modules', '.bin', 'code-server');
const CODE_SERVER_PACKAGE_JSON = path.join(TOOLS_DIR, 'node_modules', 'code-server', 'package.json');
const E2E_DIR = path.join(ROOT, '.e2e');
const SCREENSHOT_DIR = path.join(E2E_DIR, 'screenshots');
const VSIX = path.join(ROOT, 'dist', 'artifact-fetch.vsix');
const EXTENSION_ID = 'artifact-fetch.artifact-fetch';

/** The browser binary: CHROMIUM_BIN, else Debian's /usr/bin/chromium. */
function chromiumBin() {
  return process.env.CHROMIUM_BIN || '/usr/bin/chromium';
}

/** The installed code-server version in tools/, or undefined. */
function installedCodeServerVersion() {
  try {
    return JSON.parse(fs.readFileSync(CODE_SERVER_PACKAGE_JSON, 'utf8')).version;
  } catch {
    return undefined;
  }
}

/** Chromium flags proven for headless runs as root in containers, with nothing leaving loopback. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--no-first-run',
  '--no-default-browser-check',
  '--metrics-recording-only',
  '--password-store=basic',
  '--use-mock-keychain',
];

module.exports = {
  ROOT,
  CODE_SERVER_VERSION,
  RIPGREP_PACKAGE_VERSION,
  RIPGREP_ASSET,
  TOOLS_DIR,
  CODE_SERVER_BIN,
  E2E_DIR,
  SCREENSHOT_DIR,
  VSIX,
  EXTENSION_ID,
  CHROMIUM_ARGS,
  chromiumBin,
  installedCodeServerVersion,
};
