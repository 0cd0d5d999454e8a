'use strict';
/* global setTimeout, clearTimeout, setInterval, clearInterval, URL, Buffer -- Node globals the repo's eslint config does not declare for .js */
/**
 * Multi-mirror download benchmark: our CLI against aria2c and axel on the same loopback mirrors.
 *
 *   node bench/run.js            (npm run bench builds dist/ first)
 *
 * Env: BENCH_SIZE_MB      artifact size in MiB (default 512)
 *      BENCH_PROFILES     comma list of a,a-node,b,c,d,cap,stream (default a,a-node,b,c,d; stream is optional;
 *                         a runs against nginx, a-node against the bench's Node mirror)
 *      BENCH_TOOLS        comma list of ours,ours-alt,aria2c,axel,aria2c+sync,aria2c+verify,aria2c-x1,curl (default
 *                         ours,aria2c,axel; profile a adds aria2c+sync: aria2c then an fsync of its file,
 *                         durable like ours, and aria2c+verify: aria2c told the SHA-256, checked like ours)
 *      BENCH_ALT_CLI      path to another build's cli.js, run as the tool ours-alt (A/B runs of a change)
 *      BENCH_RUN_TIMEOUT_S  per tool run (default 120)
 *      BENCH_DIE_AFTER_MS   when profile c's fastest mirror dies (default 4000)
 *      BENCH_CORRUPT_EVERY  profile d's corruption period in bytes (default 1000003)
 *      BENCH_REPEAT       runs per tool and profile, interleaved across tools; the median is reported (default 3)
 *      BENCH_WRITE_DOC=1  also rewrite docs/BENCHMARK.md; BENCH_DOC_FROM_RESULTS=1 only rewrites it from
 *                         bench/results/latest.json (no run)
 *
 * Every tool run gets fresh mirror processes. The score is ratio = T_min / T_measured, where T_min
 * is the least time in which the sum of the live mirrors' caps could deliver the file (a mirror
 * that dies contributes only until it dies). Caps are in MB = 1e6 bytes; sizes in MiB.
 * Before every run the page cache's dirty data is written out (`sync`), so no tool pays for the
 * writeback of the artifact or of the previous tool's output. Tools run interleaved (ours, aria2c,
 * axel, ours, …) so a slow spell of the shared machine hits them alike; each row is the run with
 * the median time, and `runs` lists every time measured.
 * Prints a table and a `BENCH_JSON {…}` line per profile and writes bench/results/latest.json.
 */
const { fork, spawn, spawnSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { writeArtifactFile, sha256File } = require('./artifactFile');
const { killAndReap } = require('./killAndReap');
const { nginxAvailable, startNginxMirror } = require('./nginxMirror');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const MIRROR_SCRIPT = path.join(__dirname, 'mirrorProcess.js');
const PEAK_RSS_PRELOAD = path.join(__dirname, 'peakRss.js');
const RESULTS_FILE = path.join(__dirname, 'results', 'latest.json');
const DOC_FILE = path.join(__dirname, '..', 'docs', 'BENCHMARK.md');

const MB = 1e6;
const MIB = 1024 * 1024;
const SIZE_BYTES = Number(process.env.BENCH_SIZE_MB || 512) * MIB;
const PROFILE_IDS = listFromEnv('BENCH_PROFILES', 'a,a-node,b,c,d');
const TOOL_IDS = listFromEnv('BENCH_TOOLS', 'ours,aria2c,axel');
const RUN_TIMEOUT_MS = Number(process.env.BENCH_RUN_TIMEOUT_S || 120) * 1000;
const DIE_AFTER_MS = Number(process.env.BENCH_DIE_AFTER_MS || 4000);
const CORRUPT_EVERY = Number(process.env.BENCH_CORRUPT_EVERY || 1_000_003);
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT || 3));
const MIRROR_READY_TIMEOUT_MS = 10_000;
const RSS_POLL_MS = 100;
/** Small requests each mirror serves before a measured run (see warmUp). */
const WARM_UP_REQUESTS = 12;

/** The reference set: four mirrors of very different speed and distance. */
const FOUR_MIRRORS = [
  { bytesPerSecond: 40 * MB, latencyMs: 5 },
  { bytesPerSecond: 20 * MB, latencyMs: 20 },
  { bytesPerSecond: 8 * MB, latencyMs: 40 },
  { bytesPerSecond: 2 * MB, latencyMs: 80 },
];

const PROFILES = {
  a: {
    title: 'one uncapped mirror (nginx)',
    mirrors: [{ bytesPerSecond: 0, latencyMs: 0, server: 'nginx' }],
    extraTools: ['aria2c+sync', 'aria2c+verify'],
  },
  'a-node': { title: "one uncapped mirror (the bench's Node mirror, on the same two cores)", mirrors: [{ bytesPerSecond: 0, latencyMs: 0 }], extraTools: ['aria2c+sync', 'aria2c+verify'] },
  b: { title: 'four mirrors 40/20/8/2 MB/s, latency 5/20/40/80 ms', mirrors: FOUR_MIRRORS },
  c: {
    title: `as b, the 40 MB/s mirror dies after ${DIE_AFTER_MS / 1000} s`,
    mirrors: FOUR_MIRRORS.map((mirror, i) => (i === 0 ? { ...mirror, dieAfterMs: DIE_AFTER_MS } : mirror)),
  },
  d: {
    title: `as b, the 20 MB/s mirror flips one byte every ${CORRUPT_EVERY} bytes`,
    mirrors: FOUR_MIRRORS.map((mirror, i) => (i === 1 ? { ...mirror, corruptEvery: CORRUPT_EVERY } : mirror)),
  },
  cap: {
    title: 'cap check: one 40 MB/s mirror, 1 connection (curl, aria2c -x1) vs 16 (aria2c)',
    mirrors: [{ bytesPerSecond: 40 * MB, latencyMs: 5 }],
    tools: ['curl', 'aria2c-x1', 'aria2c'],
  },
  stream: {
    title: 'stream: as b, a reader of --stream-to - from byte 0 while the download runs',
    mirrors: FOUR_MIRRORS,
    tools: ['ours-stream'],
  },
};

/** How each tool is run. `command` gets { urls, outputPath, sha256 } and returns [file, args]. */
const TOOLS = {
  ours: {
    available: () => fs.existsSync(CLI),
    missingNote: 'dist/cli.js not built yet (npm run build)',
    command: ({ urls, outputPath, sha256 }) => [
      process.execPath,
      ['--require', PEAK_RSS_PRELOAD, CLI, 'get', ...urls, '--output', outputPath, '--sha256', sha256, '--json'],
    ],
  },
  // Another build of ours (BENCH_ALT_CLI=<path to a cli.js>), for A/B runs of a change in one bench.
  'ours-alt': {
    available: () => Boolean(process.env.BENCH_ALT_CLI) && fs.existsSync(process.env.BENCH_ALT_CLI),
    missingNote: 'set BENCH_ALT_CLI to another build of dist/cli.js',
    command: ({ urls, outputPath, sha256 }) => [
      process.execPath,
      ['--require', PEAK_RSS_PRELOAD, process.env.BENCH_ALT_CLI, 'get', ...urls, '--output', outputPath, '--sha256', sha256, '--json'],
    ],
  },
  'ours-stream': {
    available: () => fs.existsSync(CLI),
    missingNote: 'dist/cli.js not built yet (npm run build)',
    // stdout carries the verified bytes; the bench reads them as the consumer would.
    streamsStdout: true,
    command: ({ urls, outputPath, sha256 }) => [
      process.execPath,
      ['--require', PEAK_RSS_PRELOAD, CLI, 'get', ...urls, '--output', outputPath, '--sha256', sha256, '--quiet', '--stream-to', '-'],
    ],
  },
  aria2c: {
    available: () => commandExists('aria2c'),
    command: ({ urls, outputPath }) => ['aria2c', aria2Args(urls, outputPath, 16)],
  },
  // What aria2c needs to leave a durable file, as ours does (fsync before publishing): the same
  // aria2c run followed by `sync <file>` (coreutils fsyncs that one file), timed as one command.
  'aria2c+sync': {
    available: () => commandExists('aria2c') && commandExists('sh'),
    command: ({ urls, outputPath }) => [
      'sh',
      ['-c', 'aria2c "$@" && sync -d "$0"', outputPath, ...aria2Args(urls, outputPath, 16)],
    ],
  },
  // aria2c asked for the guarantee ours gives: the same SHA-256, which it checks (one pass over
  // the file) before it reports success. aria2c still hashes nothing per piece while downloading.
  'aria2c+verify': {
    available: () => commandExists('aria2c'),
    command: ({ urls, outputPath, sha256 }) => ['aria2c', [`--checksum=sha-256=${sha256}`, ...aria2Args(urls, outputPath, 16)]],
  },
  'aria2c-x1': {
    available: () => commandExists('aria2c'),
    command: ({ urls, outputPath }) => ['aria2c', aria2Args(urls, outputPath, 1)],
  },
  axel: {
    available: () => commandExists('axel'),
    command: ({ urls, outputPath }) => ['axel', ['-n', '16', '-q', '-o', outputPath, ...urls]],
  },
  curl: {
    available: () => commandExists('curl'),
    // curl takes one URL: it measures what a single connection to the first mirror gets.
    command: ({ urls, outputPath }) => ['curl', ['-sS', '-o', outputPath, urls[0]]],
  },
};

/** aria2c as the anchors measured it: all mirrors on one line, split at least once per mirror. */
function aria2Args(urls, outputPath, connections) {
  return [
    `-x${connections}`,
    `-s${Math.max(connections, urls.length)}`,
    '-k1M',
    '-j1',
    '--uri-selector=adaptive',
    '--file-allocation=none',
    '--allow-overwrite=true',
    '--auto-file-renaming=false',
    '--summary-interval=0',
    '--console-log-level=warn',
    '-d',
    path.dirname(outputPath),
    '-o',
    path.basename(outputPath),
    ...urls,
  ];
}

// ---------------------------------------------------------------------------------------------
// Child process bookkeeping: everything we start is killed when we stop, however we stop.

const liveChildren = new Set();
let workDir;

function track(child, { group }) {
  const entry = { child, group };
  liveChildren.add(entry);
  child.once('exit', () => liveChildren.delete(entry));
  return child;
}

function killEverything() {
  for (const { child, group } of liveChildren) {
    try {
      // Tools run in their own process group so helpers they spawn die with them.
      if (group) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
  liveChildren.clear();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
}

process.on('exit', killEverything);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`\nbench: ${signal}, stopping every child`);
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------------------------
// Mirrors

/** An nginx mirror where the profile asks for one (and nginx is installed), else the bench's own. */
function startMirror(spec, file) {
  if (spec.server === 'nginx') {
    if (!nginxAvailable()) throw new Error('profile a needs nginx (apt-get install nginx), or run profile a-node');
    return startNginxMirror(spec, file, workDir, (child) => track(child, { group: true }));
  }
  return startMirrorProcess(spec, file);
}

/** Forks one mirror process and resolves once it listens. */
function startMirrorProcess(spec, file) {
  return new Promise((resolve, reject) => {
    const child = track(fork(MIRROR_SCRIPT, [JSON.stringify({ ...spec, file })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }), {
      group: false,
    });
    const timer = setTimeout(() => reject(new Error('mirror process did not start')), MIRROR_READY_TIMEOUT_MS);
    const mirror = {
      spec,
      child,
      url: '',
      diedAt: undefined,
      /** Starts the mirror's dieAfterMs clock. */
      arm: () => child.send({ type: 'arm' }),
      /** Resolves with the mirror's counters (zeros if the process cannot answer). */
      stats: () =>
        new Promise((resolveStats) => {
          const unanswered = { bytesServed: 0, requests: 0, socketsAccepted: 0, peakOpenSockets: 0 };
          const giveUp = setTimeout(() => finish(unanswered), 2000);
          const onMessage = (message) => {
            if (message.type === 'stats') finish(message);
          };
          const finish = (stats) => {
            clearTimeout(giveUp);
            child.off('message', onMessage);
            resolveStats(stats);
          };
          child.on('message', onMessage);
          if (child.connected) child.send({ type: 'stats' });
          else finish(unanswered);
        }),
      stop: () => killAndReap(child, () => child.kill('SIGKILL')),
      /**
       * A real mirror is a long-running server; a freshly forked one answers its first requests
       * tens of ms late (cold code). Before the measured run it serves WARM_UP_REQUESTS small
       * ranges on 4 connections (its request and pacing paths compiled), then zeroes its counters.
       * Fair to every tool: each gets mirrors warmed alike.
       */
      warmUp: async () => {
        const requestOnce = (method, offset) =>
          new Promise((resolveRequest) => {
            const range = `bytes=${offset}-${offset + 16 * 1024 - 1}`;
            const request = http.request(mirror.url, { method, agent: false, headers: { range } }, (response) => {
              response.resume();
              response.once('end', resolveRequest);
            });
            request.once('error', resolveRequest);
            request.end();
          });
        await Promise.all([0, 1, 2, 3].map(async (lane) => {
          for (let i = 0; i < WARM_UP_REQUESTS / 4; i++) await requestOnce(i % 2 ? 'GET' : 'HEAD', (lane * 16 + i) * 64 * 1024);
        }));
        await new Promise((resolveReset) => {
          const onMessage = (message) => {
            if (message.type !== 'reset') return;
            child.off('message', onMessage);
            resolveReset();
          };
          child.on('message', onMessage);
          child.send({ type: 'reset' });
        });
      },
    };
    child.on('message', (message) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        mirror.url = `http://127.0.0.1:${message.port}/artifact.bin`;
        resolve(mirror);
      }
      if (message.type === 'died') mirror.diedAt = message.at;
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error('mirror process exited before it was ready'));
    });
  });
}

/**
 * The least time in which the mirrors' caps could deliver `size` bytes: the T with
 * ∫0^T Σ live caps dt = size. `mirrors` are [{ bytesPerSecond, diesAtSeconds }]; Infinity if never.
 */
function minimumSeconds(size, mirrors) {
  let live = mirrors.filter((mirror) => mirror.bytesPerSecond > 0 && mirror.diesAtSeconds > 0);
  let now = 0;
  let remaining = size;
  while (live.length > 0) {
    const rate = live.reduce((sum, mirror) => sum + mirror.bytesPerSecond, 0);
    const nextDeath = Math.min(...live.map((mirror) => mirror.diesAtSeconds));
    if (now + remaining / rate <= nextDeath) return now + remaining / rate;
    remaining -= rate * (nextDeath - now);
    now = nextDeath;
    live = live.filter((mirror) => mirror.diesAtSeconds > now);
  }
  return Infinity;
}

// ---------------------------------------------------------------------------------------------
// One tool run

/** Polls the peak resident set (VmHWM) of a process until stopped. */
function pollPeakRss(pid) {
  let peak = 0;
  const read = () => {
    try {
      const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) peak = Math.max(peak, Number(match[1]) * 1024);
    } catch {
      // The process is gone.
    }
  };
  const timer = setInterval(read, RSS_POLL_MS);
  read();
  return () => {
    clearInterval(timer);
    return peak;
  };
}

/**
 * Reads a tool's stdout as a stream consumer: time to first byte, and the steady rate from the
 * first byte to the last (what a program reading the stream sees while the download runs).
 */
function streamReader(stream, started) {
  const hash = createHash('sha256');
  let bytes = 0;
  let firstAt;
  let lastAt;
  stream.on('data', (chunk) => {
    const now = process.hrtime.bigint();
    firstAt ??= now;
    lastAt = now;
    bytes += chunk.length;
    hash.update(chunk);
  });
  return {
    summary(expectedSha256) {
      const seconds = (from, to) => Number(to - from) / 1e9;
      const steady = firstAt !== undefined && lastAt > firstAt ? seconds(firstAt, lastAt) : undefined;
      return {
        bytes,
        firstByteSeconds: firstAt !== undefined ? round(seconds(started, firstAt), 3) : null,
        steadyMegabytesPerSecond: steady ? round(bytes / MB / steady, 1) : null,
        integrity: bytes === SIZE_BYTES && hash.digest('hex') === expectedSha256 ? 'ok' : 'CORRUPT',
      };
    },
  };
}

/** Keeps only the last `limit` characters of a stream (tools can be chatty). */
function tail(stream, limit) {
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    text = (text + chunk).slice(-limit);
  });
  return () => text;
}

/**
 * The environment every tool runs in: the same short list for all, as on a user's machine. The
 * rest of this shell's environment stays out; here it holds a NODE_EXTRA_CA_CERTS that makes Node
 * parse a whole CA bundle at boot (~40 ms on this machine) for loopback mirrors that use no TLS.
 */
function toolEnvironment() {
  const kept = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'USER'];
  return Object.fromEntries(kept.filter((name) => process.env[name] !== undefined).map((name) => [name, process.env[name]]));
}

/** Runs one tool against fresh mirrors of `profile`; returns its measured result. */
async function runTool(profile, toolId, artifact) {
  const tool = TOOLS[toolId];
  const runDir = fs.mkdtempSync(path.join(workDir, `${profile.id}-${toolId}-`));
  const outputPath = path.join(runDir, 'out.bin');
  const rssFile = path.join(runDir, 'peak-rss');
  const mirrors = await Promise.all(profile.mirrors.map((spec) => startMirror(spec, artifact.path)));
  // A real mirror is a long-running server: its first request of the run is not its first ever.
  await Promise.all(mirrors.map((mirror) => mirror.warmUp()));
  try {
    const urls = mirrors.map((mirror) => mirror.url);
    const [file, args] = tool.command({ urls, outputPath, sha256: artifact.sha256 });
    const cpuBefore = childrenCpuSeconds();
    const startedAtMs = Date.now();
    const started = process.hrtime.bigint();
    for (const mirror of mirrors) mirror.arm();
    const child = track(
      spawn(file, args, { cwd: runDir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...toolEnvironment(), BENCH_PEAK_RSS_FILE: rssFile } }),
      { group: true },
    );
    const stopRssPolling = pollPeakRss(child.pid);
    const reader = tool.streamsStdout ? streamReader(child.stdout, started) : undefined;
    const stdout = reader ? () => '' : tail(child.stdout, 1 << 20);
    const stderr = tail(child.stderr, 4096);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(-child.pid, 'SIGKILL');
    }, RUN_TIMEOUT_MS);
    const { code, signal } = await new Promise((resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('exit', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }));
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    // Read once the tool was reaped (its 'exit'): its CPU, threads and waited-for children included.
    const cpuAfter = childrenCpuSeconds();
    clearTimeout(timer);
    let peakRssBytes = stopRssPolling();
    if (fs.existsSync(rssFile)) peakRssBytes = Math.max(peakRssBytes, Number(fs.readFileSync(rssFile, 'utf8')));

    const served = await Promise.all(mirrors.map((mirror) => mirror.stats()));
    const limitMirrors = mirrors.map((mirror) => ({
      bytesPerSecond: mirror.spec.bytesPerSecond,
      diesAtSeconds:
        mirror.diedAt !== undefined ? (mirror.diedAt - startedAtMs) / 1000 : mirror.spec.dieAfterMs !== undefined ? mirror.spec.dieAfterMs / 1000 : Infinity,
    }));
    const minimum = minimumSeconds(SIZE_BYTES, limitMirrors);
    // A corrupting mirror's bandwidth is no use to a tool that proves its bytes: the honest limit.
    const honestMinimum = mirrors.some((mirror) => mirror.spec.corruptEvery)
      ? minimumSeconds(SIZE_BYTES, limitMirrors.filter((_, i) => !mirrors[i].spec.corruptEvery))
      : undefined;
    const outputExists = fs.existsSync(outputPath);
    const outputSha256 = outputExists ? await sha256File(outputPath) : undefined;
    const integrity = !outputExists ? 'MISSING' : outputSha256 === artifact.sha256 ? 'ok' : 'CORRUPT';
    const result = {
      tool: toolId,
      exitCode: code,
      signal,
      timedOut,
      seconds: round(seconds, 3),
      megabytesPerSecond: timedOut || integrity === 'MISSING' ? null : round(SIZE_BYTES / MB / seconds, 1),
      minimumSeconds: Number.isFinite(minimum) ? round(minimum, 3) : null,
      ratio: Number.isFinite(minimum) && integrity === 'ok' ? round(minimum / seconds, 3) : null,
      honestRatio: honestMinimum !== undefined && Number.isFinite(honestMinimum) && integrity === 'ok' ? round(honestMinimum / seconds, 3) : undefined,
      integrity,
      cpuSeconds: { user: round(cpuAfter.user - cpuBefore.user, 2), system: round(cpuAfter.system - cpuBefore.system, 2) },
      peakRssBytes: peakRssBytes || null,
      mirrors: served.map((stats, i) => ({
        url: mirrors[i].url,
        bytesPerSecond: mirrors[i].spec.bytesPerSecond,
        bytesServed: stats.bytesServed,
        requests: stats.requests,
        connections: stats.socketsAccepted,
        peakOpenConnections: stats.peakOpenSockets,
        diedAfterSeconds: mirrors[i].diedAt !== undefined ? round((mirrors[i].diedAt - startedAtMs) / 1000, 2) : undefined,
      })),
      stderrTail: stderr().trim().slice(-600) || undefined,
    };
    if (toolId === 'ours' || toolId === 'ours-alt') result.report = parseLastJsonObject(stdout());
    if (reader) {
      result.stream = reader.summary(artifact.sha256);
      if (result.stream.integrity !== 'ok') result.integrity = `stream ${result.stream.integrity}`;
    }
    return result;
  } finally {
    // Reaped before the next run starts: a mirror's CPU must not count as the next tool's.
    await Promise.all(mirrors.map((mirror) => mirror.stop()));
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

/** The kernel's clock ticks per second, the unit of /proc's CPU times (100 on Linux, checked once). */
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/**
 * CPU seconds (user, system) of every child this process has reaped so far (/proc/self/stat's
 * cutime and cstime): a tool's CPU is the difference across its run, threads and the children it
 * waited for included, and mirrors' excluded (they are reaped between runs; nginx's worker is not
 * our child at all). Zeros where /proc is missing.
 */
function childrenCpuSeconds() {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    // After "pid (comm) " come fields 3…; cutime and cstime are fields 16 and 17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[13]) / CLOCK_TICKS, system: Number(fields[14]) / CLOCK_TICKS };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** SHA-256 on one core of this machine (bytes per second), the price of one pass over a file. */
function sha256BytesPerSecond() {
  const block = Buffer.alloc(MIB, 1);
  const hash = createHash('sha256');
  const started = process.hrtime.bigint();
  for (let i = 0; i < 256; i++) hash.update(block);
  hash.digest();
  return (256 * MIB) / (Number(process.hrtime.bigint() - started) / 1e9);
}

/** Writes out dirty page-cache data, so a run never pays for an earlier one's writeback. */
function flushDirtyPages() {
  spawnSync('sync', { stdio: 'ignore' });
}

/**
 * The run with the median time (a failed or corrupt run counts as the slowest), with every
 * run's time attached so the spread is visible.
 */
function medianRun(runs) {
  const key = (run) => (run.integrity === 'ok' && !run.timedOut ? run.seconds : Infinity);
  const sorted = [...runs].sort((a, b) => key(a) - key(b));
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  return { ...median, runs: runs.map((run) => (run.integrity === 'ok' ? run.seconds : `${run.seconds} ${run.integrity}`)) };
}

/** Our CLI prints one JSON object with --json; take the last line that parses as one. */
function parseLastJsonObject(text) {
  const lines = text.trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.trim().startsWith('{')) continue;
    try {
      return JSON.parse(line);
    } catch {
      // Not the report line.
    }
  }
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting

function round(value, digits) {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function listFromEnv(name, fallback) {
  return (process.env[name] || fallback)
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

function commandExists(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function versionOf(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return result.status === 0 ? (result.stdout || result.stderr).split('\n')[0].trim() : undefined;
}

/** What the tool's result says beyond the numbers: failures, and our own source verdicts. */
function noteFor(result) {
  const notes = [];
  if (result.skipped) return result.skipped;
  if (result.timedOut) notes.push(`TIMEOUT after ${RUN_TIMEOUT_MS / 1000} s`);
  if (result.exitCode !== 0 && !result.timedOut) notes.push(`exit ${result.exitCode ?? result.signal}`);
  // The job's own time (from the CLI's JSON): the rest of the wall time is process start and exit.
  if (typeof result.report?.seconds === 'number') notes.push(`job ${result.report.seconds.toFixed(2)} s`);
  if (result.report?.sources) {
    const unusual = result.report.sources.filter((source) => !['active', 'standby'].includes(source.state));
    for (const source of unusual) notes.push(`${portOf(source.url)}:${source.state}${source.strikes ? `(${source.strikes} strikes)` : ''}`);
  } else if (result.tool === 'ours') notes.push('no JSON report');
  if (result.stream) notes.push(`stream: first byte ${result.stream.firstByteSeconds} s, ${result.stream.steadyMegabytesPerSecond} MB/s steady`);
  if (result.exitCode !== 0 && result.stderrTail) notes.push(result.stderrTail.split('\n').pop().slice(0, 80));
  return notes.join('; ');
}

function portOf(url) {
  try {
    return new URL(url).port;
  } catch {
    return url;
  }
}

function profileRows(results) {
  const honest = results.some((result) => result.honestRatio !== undefined);
  const rows = [['tool', 'seconds', 'MB/s', 'ratio', ...(honest ? ['ratio (honest mirrors)'] : []), 'sha256', 'CPU s (user+sys)', 'peak RSS', 'MB served per mirror', 'all runs (s)', 'note']];
  for (const result of results) {
    if (result.skipped) {
      rows.push([result.tool, ...rows[0].slice(1, -1).map(() => '-'), result.skipped]);
      continue;
    }
    rows.push([
      result.tool,
      result.seconds.toFixed(2),
      result.megabytesPerSecond === null ? '-' : result.megabytesPerSecond.toFixed(1),
      result.ratio === null ? (result.relativeToAria2c !== undefined ? `${result.relativeToAria2c.toFixed(2)}×aria2c` : 'n/a') : result.ratio.toFixed(3),
      ...(honest ? [result.honestRatio !== undefined ? result.honestRatio.toFixed(3) : 'n/a'] : []),
      result.integrity,
      result.cpuSeconds ? `${result.cpuSeconds.user.toFixed(2)}+${result.cpuSeconds.system.toFixed(2)}` : '?',
      result.peakRssBytes ? `${(result.peakRssBytes / MIB).toFixed(0)} MiB` : '?',
      result.mirrors.map((mirror) => (mirror.bytesServed / MB).toFixed(0)).join('/'),
      (result.runs || [result.seconds]).map((run) => (typeof run === 'number' ? run.toFixed(2) : run)).join(', '),
      noteFor(result),
    ]);
  }
  return rows;
}

function profileHeading(profile, results) {
  const caps = profile.mirrors.map((mirror) => (mirror.bytesPerSecond ? `${mirror.bytesPerSecond / MB}` : '∞')).join('/');
  const minimum = results.find((r) => r.minimumSeconds)?.minimumSeconds;
  return `${(SIZE_BYTES / MIB).toFixed(0)} MiB, caps ${caps} MB/s${minimum ? `, T_min ${minimum.toFixed(2)} s` : ''}; ratio = T_min / T`;
}

function printProfile(profile, results) {
  const rows = profileRows(results);
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)));
  console.log(`\nProfile ${profile.id}: ${profile.title}`);
  console.log(`  ${profileHeading(profile, results)}`);
  for (const row of rows) console.log('  ' + row.map((cell, column) => String(cell).padEnd(widths[column])).join('  '));
}

// ---------------------------------------------------------------------------------------------

async function main() {
  if (process.env.BENCH_DOC_FROM_RESULTS) {
    // Rewrites docs/BENCHMARK.md from the last run's results (after a change to the page's text).
    fs.writeFileSync(DOC_FILE, benchmarkDoc(JSON.parse(fs.readFileSync(RESULTS_FILE, 'utf8'))));
    console.log(`bench: wrote ${path.relative(ROOT, DOC_FILE)} from ${path.relative(ROOT, RESULTS_FILE)}`);
    return;
  }
  const unknownProfiles = PROFILE_IDS.filter((id) => !PROFILES[id]);
  const unknownTools = TOOL_IDS.filter((id) => !TOOLS[id]);
  if (unknownProfiles.length || unknownTools.length) {
    console.error(`bench: unknown profile(s) ${unknownProfiles.join(',') || '-'}, tool(s) ${unknownTools.join(',') || '-'}`);
    process.exit(2);
  }
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'af-bench-'));
  const artifact = { path: path.join(workDir, 'artifact.bin') };
  const generationStarted = Date.now();
  artifact.sha256 = await writeArtifactFile(artifact.path, SIZE_BYTES, 'bench');
  flushDirtyPages();
  console.log(`bench: ${(SIZE_BYTES / MIB).toFixed(0)} MiB artifact in ${((Date.now() - generationStarted) / 1000).toFixed(1)} s, sha256 ${artifact.sha256}`);

  const report = {
    startedAt: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    sizeBytes: SIZE_BYTES,
    sha256: artifact.sha256,
    repeat: REPEAT,
    sha256BytesPerSecond: Math.round(sha256BytesPerSecond()),
    toolVersions: {
      aria2c: commandExists('aria2c') ? versionOf('aria2c', ['--version']) : undefined,
      axel: commandExists('axel') ? versionOf('axel', ['--version']) : undefined,
      curl: commandExists('curl') ? versionOf('curl', ['--version']) : undefined,
    },
    profiles: [],
  };

  for (const id of PROFILE_IDS) {
    const profile = { id, ...PROFILES[id] };
    const profileTools = profile.tools || [...TOOL_IDS, ...(profile.extraTools || []).filter(() => TOOL_IDS.includes('aria2c'))];
    const toolIds = profileTools.filter((toolId) => TOOLS[toolId].available());
    const runsByTool = new Map(toolIds.map((toolId) => [toolId, []]));
    for (let round = 1; round <= REPEAT; round++) {
      for (const toolId of toolIds) {
        process.stdout.write(`bench: profile ${id}, ${toolId}${REPEAT > 1 ? ` (${round}/${REPEAT})` : ''}… `);
        flushDirtyPages();
        const result = await runTool(profile, toolId, artifact);
        console.log(`${result.seconds.toFixed(2)} s, ${result.integrity}`);
        runsByTool.get(toolId).push(result);
      }
    }
    const results = profileTools.map((toolId) =>
      runsByTool.has(toolId)
        ? medianRun(runsByTool.get(toolId))
        : { tool: toolId, skipped: TOOLS[toolId].missingNote || `${toolId} not installed` },
    );
    const aria2 = results.find((result) => result.tool === 'aria2c' && result.integrity === 'ok');
    if (aria2) {
      for (const result of results) if (result.seconds && result.integrity === 'ok') result.relativeToAria2c = round(aria2.seconds / result.seconds, 3);
    }
    printProfile(profile, results);
    const summary = { profile: id, title: profile.title, sizeBytes: SIZE_BYTES, mirrors: profile.mirrors, results };
    console.log('BENCH_JSON ' + JSON.stringify(summary));
    report.profiles.push(summary);
  }

  report.finishedAt = new Date().toISOString();
  fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  fs.writeFileSync(RESULTS_FILE, JSON.stringify(report, null, 2) + '\n');
  console.log(`\nbench: wrote ${path.relative(ROOT, RESULTS_FILE)}`);
  if (process.env.BENCH_WRITE_DOC) {
    fs.writeFileSync(DOC_FILE, benchmarkDoc(report));
    console.log(`bench: wrote ${path.relative(ROOT, DOC_FILE)}`);
  }
}

/** docs/BENCHMARK.md from one run, so the published figures are exactly what was measured. */
function benchmarkDoc(report) {
  const lines = [
    '# Benchmark',
    '',
    `Generated by \`BENCH_WRITE_DOC=1 npm run bench\` on ${report.finishedAt.slice(0, 10)} (${report.cpus ?? os.cpus().length} cores, Node ${report.node ?? process.version}).`,
    ...(report.sha256BytesPerSecond
      ? [
          `SHA-256 on one core of this machine: ${(report.sha256BytesPerSecond / 1e9).toFixed(2)} GB/s, so one pass over the ${(report.sizeBytes / MIB).toFixed(0)} MiB artifact costs ` +
            `${(report.sizeBytes / report.sha256BytesPerSecond).toFixed(2)} s of CPU.`,
        ]
      : []),
    'Every mirror is a separate process with an aggregate bandwidth cap shared by all its connections (a token',
    'bucket holding 50 ms of tokens) and a per-request latency; every tool runs against fresh mirrors in the same',
    'run, each warmed with a few small requests first (a real mirror is a long-running server), and its output is',
    'hashed. Profile a is served by nginx (sendfile), a-node by the bench\'s own Node mirror.',
    'ratio = the shortest time the caps allow (integrated over the live caps) ÷ the measured wall time,',
    'from process start to exit. aria2c runs with `-x16 -s16 -k1M --uri-selector=adaptive`, axel with `-n 16`.',
    'Ours runs `get <urls> --sha256 <hex> --json`: every piece hashed (RFC 6962 leaf), the whole-file SHA-256',
    'checked, the data fsynced and published atomically; aria2c and axel check nothing and do not sync.',
    `Each tool ran ${report.repeat ?? REPEAT} times, interleaved with the others, after a \`sync\`; rows show the median run.`,
    'CPU s is the run\'s user + system CPU time, all threads and waited-for children (the kernel\'s count of',
    'reaped children); a mirror\'s work is not in it.',
    'Every tool runs with the same short environment (PATH, HOME, LANG, LC_ALL, TMPDIR, USER), as on a user\'s',
    'machine: this shell also sets NODE_EXTRA_CA_CERTS, which makes Node parse a whole CA bundle at boot (~40 ms).',
    '',
    'How to read it:',
    '- Profiles a and a-node measure CPU more than the network: nothing caps the mirror, and the machine has',
    '  two cores. Ours does the work aria2c does (receive, write into the page cache) and, as issue 2 asks,',
    '  also hashes every byte twice: the RFC 6962 leaf of each piece on the download thread, and the whole-file',
    '  SHA-256 on a hashing thread (each pass costs the CPU given above), then fsyncs. Compare the CPU column.',
    '  On the 2026-12-05 VM, the same engine with the leaf hash switched off (a build for measurement only)',
    '  tied aria2c in profile a: 0.91 s vs 0.89 s (hyperfine, 8 runs each); with it, 1.2 s. Moving the leaf',
    '  hash off the download thread did not help on two cores (measured twice: a worker thread fed through',
    '  shared memory, and libuv\'s thread pool through WebCrypto\'s digest): the hash takes the same CPU',
    '  wherever it runs, and both cores are busy. `aria2c+verify` is aria2c told the same SHA-256',
    '  (`--checksum=sha-256=…`, checked in one pass after the download): the like-for-like guarantee.',
    '  `aria2c+sync` is aria2c followed by an fsync of its file. Not yet explained: in this bench (a fresh',
    '  nginx per run) ours spent 0.7-2.1 s of system CPU per run, against ~0.55 s in those hyperfine runs',
    '  against one long-running nginx, where ours took 1.2-1.3 s and aria2c 0.89-0.91 s.',
    '- Our receive path: by default Node gives every socket read a fresh buffer, and on these VMs the first',
    '  touch of a memory page is a trip to the hypervisor (~30k page faults per 512 MiB). Our sockets read into',
    '  reused slots instead (src/engine/receiveBuffers.ts), which grow from 64 to 256 KiB while reads fill',
    '  them. `node bench/receivePaths.js` measures the receive paths alone (512 MiB thrown away: Node streams,',
    '  undici, undici into slots, undici\'s dispatch(), and one reused buffer without HTTP). The CLI also runs',
    '  V8 with `--liftoff-only` (src/cli/processFlags.ts): otherwise undici\'s WebAssembly parser is compiled',
    '  a second time, taking a core for ~0.3 s mid-download. In a-node the mirror process takes a share of the',
    '  same two cores; nginx (profile a) very little.',
    '- Ours\' note column gives the job\'s own time (`seconds` of its JSON); the rest of the wall time is Node\'s',
    '  start (~50 ms), loading the CLI (its bundle compiles from a V8 code cache, src/cli/codeCache.ts) and the',
    '  exit. A file of at most 16 MiB is hashed at the end on the job\'s own thread instead of a hashing thread,',
    '  whose start costs ~50 ms of CPU (src/engine/prefixHasher.ts).',
    '- In b and c the steady state runs at the mirrors\' caps; what separates ours from 1.0 is the start (the',
    '  process outside the job, see the note column; then probes and the identity checks every mirror passes',
    '  before it gets work), the bytes fetched twice (the light audits, a few MB re-fetched from a second mirror',
    '  while a trusted SHA-256 guards the file, and endgame duplicates), the last ~100 ms when fewer mirrors are',
    '  busy, and the final check and publish.',
    '- These machines are noisy VMs: interleaving and medians damp it; the all-runs column shows the spread.',
    '',
  ];
  lines.push(...summaryLines(report), '');
  for (const profile of report.profiles) {
    const rows = profileRows(profile.results);
    lines.push(`## Profile ${profile.profile}: ${profile.title}`, '', profileHeading(profile, profile.results), '');
    lines.push(`| ${rows[0].join(' | ')} |`, `|${rows[0].map(() => '---').join('|')}|`);
    for (const row of rows.slice(1)) lines.push(`| ${row.map((cell) => String(cell).replace(/\|/g, '/')).join(' | ')} |`);
    lines.push('');
  }
  return lines.join('\n');
}

/** The targets the engine is held to (issue 2), each with what this run measured. */
const AT_LEAST_ARIA2C = { text: '≥ 1× aria2c', met: (ours, results) => ours.relativeToAria2c !== undefined && ours.relativeToAria2c >= 1 && results.length > 0 };
const TARGETS = {
  a: AT_LEAST_ARIA2C,
  'a-node': AT_LEAST_ARIA2C,
  b: { text: '≥ 0.95 of the aggregate cap', met: (ours) => ours.ratio >= 0.95 },
  c: { text: '≥ 0.90 of the time-integrated limit, verified', met: (ours) => ours.ratio >= 0.9 },
  d: { text: '≥ 0.85 of the honest mirrors\' cap, verified', met: (ours) => ours.honestRatio >= 0.85 },
};

function summaryLines(report) {
  const lines = ['## Summary (medians)', '', '| profile | ours | aria2c | axel | target | met |', '|---|---|---|---|---|---|'];
  const cell = (result) => {
    if (!result || result.skipped) return '-';
    if (result.integrity !== 'ok') return `${result.integrity.toLowerCase()} file`;
    const ratio = result.honestRatio ?? result.ratio;
    return ratio !== null && ratio !== undefined ? ratio.toFixed(3) : `${result.seconds.toFixed(2)} s${result.relativeToAria2c !== undefined ? ` (${result.relativeToAria2c.toFixed(2)}× aria2c)` : ''}`;
  };
  for (const profile of report.profiles) {
    const byTool = Object.fromEntries(profile.results.map((result) => [result.tool, result]));
    const ours = byTool.ours ?? byTool['ours-stream'];
    const target = TARGETS[profile.profile];
    const met = target && ours && ours.integrity === 'ok' ? (target.met(ours, profile.results) ? 'yes' : '**no**') : '-';
    lines.push(`| ${profile.profile} | ${cell(ours)} | ${cell(byTool.aria2c)} | ${cell(byTool.axel)} | ${target ? target.text : '-'} | ${met} |`);
  }
  const rss = report.profiles.flatMap((profile) => profile.results.filter((r) => r.tool === 'ours' && r.peakRssBytes).map((r) => r.peakRssBytes));
  if (rss.length > 0) lines.push('', `Peak RSS of our CLI in this run: ${(Math.max(...rss) / MIB).toFixed(0)} MiB at most (target < 200 MB; the 4 GiB figure is in docs/RELIABILITY.md).`);
  return lines;
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error('bench failed:', error);
    process.exit(1);
  },
);
