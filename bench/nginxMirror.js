'use strict';
/* global setTimeout -- a Node global the repo's eslint config does not declare for .js */
/**
 * One uncapped mirror served by nginx, a real mirror server (sendfile from the page cache), for
 * the uncapped profile: the bench's own Node mirror spends about 0.6 s of CPU per 512 MiB on the
 * same two cores as the client, which a mirror on another machine never would. Every tool gets a
 * fresh nginx alike.
 *
 * Same shape as a mirror of run.js: { spec, url, diedAt, arm, stats, stop, warmUp }.
 * stats(): bytesServed and requests from the access log, connections from its connection serials
 * (peakOpenConnections is not known: 0).
 */
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { killAndReap } = require('./killAndReap');

const READY_TIMEOUT_MS = 10_000;

/** True when an nginx binary is on the PATH. */
function nginxAvailable() {
  return spawnSync('sh', ['-c', 'command -v nginx'], { stdio: 'ignore' }).status === 0;
}

/** A free loopback port (nginx cannot be told to pick one and report it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function waitForPort(port) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error('nginx did not start listening'));
        else setTimeout(attempt, 20);
      });
    };
    attempt();
  });
}

/**
 * Starts nginx in its own folder under `workDir`, serving `file` as /artifact.bin.
 * @param {{ bytesPerSecond: number, latencyMs: number }} spec (both 0: nginx runs uncapped)
 * @param {(child: import('node:child_process').ChildProcess) => void} track registers the process (group) for clean-up
 */
async function startNginxMirror(spec, file, workDir, track) {
  const dir = fs.mkdtempSync(path.join(workDir, 'nginx-'));
  const www = path.join(dir, 'www');
  fs.mkdirSync(www);
  fs.linkSync(file, path.join(www, 'artifact.bin'));
  const port = await freePort();
  const accessLog = path.join(dir, 'access.log');
  const config = `
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 1024; }
http {
  log_format served '$connection $body_bytes_sent';
  access_log ${accessLog} served;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:${port};
    root ${www};
  }
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), config);
  // Its own process group, so its worker process dies with it.
  const child = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  track(child);
  await waitForPort(port);
  const url = `http://127.0.0.1:${port}/artifact.bin`;
  return {
    spec,
    child,
    url,
    diedAt: undefined,
    arm: () => undefined,
    stats: async () => {
      const lines = fs.existsSync(accessLog) ? fs.readFileSync(accessLog, 'utf8').split('\n').filter(Boolean) : [];
      const connections = new Set(lines.map((line) => line.split(' ')[0]));
      const bytesServed = lines.reduce((sum, line) => sum + Number(line.split(' ')[1] || 0), 0);
      return { bytesServed, requests: lines.length, socketsAccepted: connections.size, peakOpenSockets: 0 };
    },
    /** Kills nginx (its worker too: one process group); resolves once nginx was reaped. */
    stop: () => killAndReap(child, () => process.kill(-child.pid, 'SIGKILL')),
    // nginx has no cold code to warm; the log starts empty for the measured run.
    warmUp: async () => fs.writeFileSync(accessLog, ''),
  };
}

module.exports = { nginxAvailable, startNginxMirror };
