'use strict';
/**
 * `npm run test:e2e:setup`: makes the real-VS-Code test tools ready, or fails saying what to install.
 *
 * - checks Node 20 (code-server 4.100.x's postinstall refuses other majors) and Chromium
 *   (CHROMIUM_BIN, else /usr/bin/chromium);
 * - installs code-server 4.100.3 from npm into tools/ (git-ignored) unless that exact version is
 *   already there and starts: the second run is a no-op of about a second;
 * - works offline: fills @vscode/ripgrep's download cache from the system `rg`, and sets
 *   npm_config_yes so node-pty's `npx node-gyp` does not stop at npm's "yes" prompt.
 *
 * Env: E2E_TOOLS_DIR, CHROMIUM_BIN (see e2eEnv.js).
 * Never skips silently: every outcome prints one line, every failure exits 1 with the fix.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const env = require('./e2eEnv');

const READY_STAMP = path.join(env.TOOLS_DIR, '.code-server-ready');
/** Where npm's child processes put temp files during the install (so the ripgrep cache is ours too). */
const INSTALL_TMP = path.join(env.TOOLS_DIR, '.tmp');

function fail(lines) {
  console.error(`\ntest:e2e:setup FAILED\n${[].concat(lines).map((line) => `  ${line}`).join('\n')}\n`);
  process.exit(1);
}

function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).stdout.trim() || undefined;
}

/** Runs code-server with its config and data kept inside tools/, never in $HOME. */
function codeServer(args, timeout = 60_000) {
  const home = path.join(env.TOOLS_DIR, '.code-server-home');
  return spawnSync(env.CODE_SERVER_BIN, ['--config', path.join(home, 'config.yaml'), ...args], {
    encoding: 'utf8',
    timeout,
    env: { ...process.env, XDG_DATA_HOME: path.join(home, 'data'), XDG_CONFIG_HOME: path.join(home, 'config') },
  });
}

function checkNode() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major !== 20) {
    fail([
      `Node ${process.versions.node} is running; code-server ${env.CODE_SERVER_VERSION} needs Node 20 exactly`,
      '(its postinstall refuses any other major, and its extension host runs on this Node).',
      'Install Node 20, e.g. `nvm install 20`, or actions/setup-node with node-version: 20.',
    ]);
  }
}

function checkChromium() {
  const bin = env.chromiumBin();
  if (!fs.existsSync(bin)) {
    fail([
      `No Chromium at ${bin}${process.env.CHROMIUM_BIN ? ' (from CHROMIUM_BIN)' : ''}.`,
      'Install it: `apt-get install -y chromium` (Debian; on Ubuntu the apt package is a snap shim that fails in containers),',
      'or point CHROMIUM_BIN at a Chrome or Chromium binary, e.g. CHROMIUM_BIN=/usr/bin/google-chrome on GitHub runners.',
    ]);
  }
  // Chromium's wrapper makes ~/.config/chromium on first start; keep that inside tools/ too.
  const home = path.join(env.TOOLS_DIR, '.chromium-home');
  const version = spawnSync(bin, ['--version'], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, XDG_CONFIG_HOME: path.join(home, 'config'), XDG_CACHE_HOME: path.join(home, 'cache') },
  });
  const text = `${version.stdout ?? ''}`.trim().split('\n').pop();
  if (version.status !== 0 || !/\d+\.\d+/.test(text ?? '')) {
    fail([`${bin} --version did not run (${version.error?.message ?? `exit ${version.status}`}): ${version.stderr ?? ''}`.trim(),
      'Reinstall it (`apt-get install --reinstall -y chromium`) or set CHROMIUM_BIN to a working browser.']);
  }
  console.log(`chromium: ${text} (${bin})`);
}

/** True when tools/ holds the right code-server, finished installing, and it starts. */
function codeServerReady() {
  if (env.installedCodeServerVersion() !== env.CODE_SERVER_VERSION) return false;
  if (!fs.existsSync(READY_STAMP) || fs.readFileSync(READY_STAMP, 'utf8').trim() !== env.CODE_SERVER_VERSION) return false;
  return printsVersion(codeServer(['--version']));
}

/** `code-server --version` may print "Wrote default config file" first; the version is its own line. */
function printsVersion(result) {
  return result.status === 0 && new RegExp(`^${env.CODE_SERVER_VERSION.replace(/\./g, '\\.')} `, 'm').test(result.stdout);
}

/** What code-server's postinstall needs to build its native modules; fails listing what is missing. */
function checkBuildPrerequisites() {
  const missing = [];
  if (!onPath('krb5-config') && !fs.existsSync('/usr/include/gssapi/gssapi.h')) missing.push('libkrb5-dev (kerberos headers for the `kerberos` module)');
  for (const tool of ['g++', 'make', 'python3']) if (!onPath(tool)) missing.push(`${tool} (node-gyp builds)`);
  if (missing.length > 0) {
    fail([
      `Cannot build code-server ${env.CODE_SERVER_VERSION}'s native modules; missing:`,
      ...missing.map((item) => `  - ${item}`),
      'Install them: `apt-get update && apt-get install -y libkrb5-dev g++ make python3`.',
    ]);
  }
  const nodedir = process.env.npm_config_nodedir || spawnSync('npm', ['config', 'get', 'nodedir'], { encoding: 'utf8' }).stdout.trim();
  if (nodedir && nodedir !== 'undefined' && nodedir !== 'null') {
    if (!fs.existsSync(path.join(nodedir, 'include', 'node', 'node.h'))) {
      fail([`npm's nodedir is ${nodedir}, but ${nodedir}/include/node/node.h is missing.`,
        'Install the Node 20 headers there (Debian: the nodejs headers package), or unset nodedir to let node-gyp download them.']);
    }
  } else {
    console.log('node headers: no npm nodedir set; node-gyp downloads the headers (needs internet).');
  }
}

/**
 * @vscode/ripgrep's postinstall downloads rg from GitHub unless the asset is in its cache folder
 * (os.tmpdir()/vscode-ripgrep-cache-<version>). We point TMPDIR at tools/.tmp and fill the cache
 * from the system rg, so the install works with no internet.
 */
function prepareRipgrepCache() {
  const cacheDir = path.join(INSTALL_TMP, `vscode-ripgrep-cache-${env.RIPGREP_PACKAGE_VERSION}`);
  const asset = path.join(cacheDir, env.RIPGREP_ASSET);
  if (fs.existsSync(asset)) return;
  const rg = onPath('rg');
  if (!rg) {
    console.warn([
      'ripgrep: `rg` is not installed, so @vscode/ripgrep\'s postinstall will download it from GitHub.',
      '         With no internet that fails; install it first: `apt-get install -y ripgrep`.',
    ].join('\n'));
    return;
  }
  const staging = path.join(cacheDir, 'staging');
  fs.mkdirSync(staging, { recursive: true });
  fs.copyFileSync(rg, path.join(staging, 'rg'));
  fs.chmodSync(path.join(staging, 'rg'), 0o755);
  const tar = spawnSync('tar', ['czf', asset, '-C', staging, 'rg'], { encoding: 'utf8' });
  fs.rmSync(staging, { recursive: true, force: true });
  if (tar.status !== 0) fail([`could not pack ${rg} into ${asset}: ${tar.stderr}`]);
  console.log(`ripgrep: cache filled from ${rg} (offline install of @vscode/ripgrep ${env.RIPGREP_PACKAGE_VERSION})`);
}

function installCodeServer() {
  checkBuildPrerequisites();
  // A half-finished or different install is replaced, not patched.
  fs.rmSync(path.join(env.TOOLS_DIR, 'node_modules'), { recursive: true, force: true });
  fs.rmSync(path.join(env.TOOLS_DIR, 'package-lock.json'), { force: true });
  fs.rmSync(READY_STAMP, { force: true });
  fs.mkdirSync(INSTALL_TMP, { recursive: true });
  fs.writeFileSync(path.join(env.TOOLS_DIR, 'package.json'), `${JSON.stringify({ name: 'artifact-fetch-e2e-tools', private: true, description: 'code-server for npm run test:e2e (git-ignored; made by scripts/e2e/setup.js)' }, null, 2)}\n`);
  prepareRipgrepCache();

  console.log(`code-server: installing ${env.CODE_SERVER_VERSION} into ${env.TOOLS_DIR} (about 60-70 s: native builds)…`);
  const started = Date.now();
  const args = ['install', '--no-audit', '--no-fund', '--no-update-notifier', `code-server@${env.CODE_SERVER_VERSION}`];
  // As root, the postinstall checks npm_config_unsafe_perm; npm 11 warns the flag is unknown but passes it on.
  if (process.getuid?.() === 0) args.splice(1, 0, '--unsafe-perm');
  const install = spawnSync('npm', args, {
    cwd: env.TOOLS_DIR,
    stdio: 'inherit',
    env: {
      ...process.env,
      // node-pty's postinstall runs `npx node-gyp`; with npm's `yes=false` it would be cancelled.
      npm_config_yes: 'true',
      TMPDIR: INSTALL_TMP,
    },
  });
  if (install.status !== 0) {
    fail([
      `npm install code-server@${env.CODE_SERVER_VERSION} failed (exit ${install.status ?? install.signal}). Usual causes:`,
      '- native build tools or headers missing: `apt-get install -y libkrb5-dev g++ make python3`, Node 20 headers;',
      '- offline without ripgrep: `apt-get install -y ripgrep`, then run this again;',
      '- no access to the npm registry.',
    ]);
  }
  if (!codeServerReadyAfterInstall()) {
    fail([`code-server was installed but \`${env.CODE_SERVER_BIN} --version\` does not print ${env.CODE_SERVER_VERSION}.`,
      'Delete tools/ and run `npm run test:e2e:setup` again; see the npm output above.']);
  }
  console.log(`code-server: ${env.CODE_SERVER_VERSION} installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function codeServerReadyAfterInstall() {
  if (!printsVersion(codeServer(['--version']))) return false;
  fs.writeFileSync(READY_STAMP, `${env.CODE_SERVER_VERSION}\n`);
  return true;
}

function main() {
  const started = Date.now();
  checkNode();
  checkChromium();
  if (codeServerReady()) {
    console.log(`code-server: ${env.CODE_SERVER_VERSION} already installed in ${env.TOOLS_DIR}; install skipped`);
  } else {
    installCodeServer();
  }
  console.log(`test:e2e:setup ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main();
