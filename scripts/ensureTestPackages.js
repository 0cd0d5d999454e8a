#!/usr/bin/env node
'use strict';
/**
 * `npm test` runs this first. The Node-only suite needs two Debian packages besides npm's: a real
 * FTP server for the FTP tests (pyftpdlib, run by /usr/bin/python3) and openssl for a throwaway
 * test CA. On a fresh Debian machine as root (CI, a new container) they are installed here, so
 * `npm test` alone works; elsewhere this stops at once with the exact command, rather than letting
 * the FTP tests fail one by one.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');

const PACKAGES = ['python3-pyftpdlib', 'openssl'];

function missing() {
  const python = spawnSync('/usr/bin/python3', ['-c', 'import pyftpdlib'], { stdio: 'ignore' });
  const openssl = spawnSync('openssl', ['version'], { stdio: 'ignore' });
  return [...(python.status === 0 ? [] : ['python3-pyftpdlib']), ...(openssl.status === 0 ? [] : ['openssl'])];
}

function main() {
  let absent = missing();
  if (absent.length === 0) return 0;
  const canInstall = typeof process.getuid === 'function' && process.getuid() === 0 && fs.existsSync('/usr/bin/apt-get');
  if (!canInstall) {
    console.error(`npm test needs the Debian packages ${absent.join(', ')}: run \`sudo apt-get install -y ${PACKAGES.join(' ')}\` first.`);
    return 1;
  }
  console.error(`npm test: installing ${absent.join(', ')} (apt-get, for the FTP tests)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  spawnSync('apt-get', ['install', '-y', '-qq', ...absent], { stdio: 'inherit', env });
  absent = missing();
  if (absent.length > 0) {
    console.error(`npm test: could not install ${absent.join(', ')}; run \`apt-get install -y ${absent.join(' ')}\` and try again.`);
    return 1;
  }
  return 0;
}

process.exit(main());
