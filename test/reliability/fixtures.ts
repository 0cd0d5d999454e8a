/**
 * Shared pieces of the reliability suite (RELIABILITY.md catalogue): fixtures that track every
 * loopback server a test starts, a canary token given to every in-process job and searched for
 * everywhere it must not be, checks for the six reported figures, and a recorder that writes
 * measurements as JSON lines into $AF_RELIABILITY_OUT (read by scripts/reliabilityReport.js).
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, promises as fsp, readFileSync, readdirSync, readlinkSync, rmSync, lstatSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HttpTransport } from '../../src/engine/httpTransport';
import type { JobOptions } from '../../src/engine/jobOptions';
import { leafHash } from '../../src/engine/integrity/merkleTree';
import { saveJournal } from '../../src/engine/journal';
import { request } from 'undici';
import { Worker } from 'node:worker_threads';
import { EngineClient } from '../../src/worker/engineClient';
import type { JobEvent, JobSnapshot } from '../../src/engine/snapshot';
import { sha256FileHex } from '../harness/artifact';
import { startEndlessServer, type EndlessServer, type EndlessServerOptions } from '../harness/endlessServer';
import type { Mirror, MirrorOptions } from '../harness/mirrorServer';
import { startRawServer, type RawScript, type RawServer } from '../harness/rawServer';
import { startProxy, type FaultProxy, type ProxyMode, type ProxyTarget } from '../harness/tcpFaultProxy';
import { startTlsFront, type TlsFront } from '../harness/tlsFront';
import type { TestCertificate } from '../harness/testCa';
import { buildCli, readJournalDone, runJob, useFixtures, waitFor, type Fixtures, type JobRun, type RunJobHooks } from '../engine/fixtures';

export { KiB, LEAD_PROBE_BYTES, MiB, PROBE_BYTES, SPOT_BYTES, exists, isLeadProbe, isProbe, isSpotCheck, rangeOf, readJournalDone, sleep, waitFor, workBytes, workRequests, firstGap, afterProbe, assertFileEquals, buildCli } from '../engine/fixtures';

/** The state folder, part, journal and lock paths the engine uses for `outputPath`. */
export function statePaths(outputPath: string, stateDir?: string): { stateDir: string; part: string; journal: string; lock: string } {
  const dir = stateDir ?? path.join(path.dirname(outputPath), '.artifact-fetch');
  const base = path.basename(outputPath);
  return { stateDir: dir, part: path.join(dir, `${base}.part`), journal: path.join(dir, `${base}.journal.json`), lock: path.join(dir, `${base}.lock`) };
}

/** The canary: given as a credential to every in-process job of the suite, it must appear nowhere else. */
export const CANARY = `CANARY${randomBytes(12).toString('hex')}`;
export const CANARY_HEADER = `Bearer ${CANARY}`;

// ------------------------------------------------------------------ measurements

/** One measurement for the report; `figure` is one of the six figures of RELIABILITY.md. */
export interface Measurement {
  figure: 'integrity' | 'containment' | 'secrets' | 'resume' | 'availability' | 'resources';
  [key: string]: unknown;
}

let currentTest = '';
/** The catalogue id of the running test ("S03"), from its title. */
export function currentCase(): string {
  return /^([A-Z]\d\d)\b/.exec(currentTest)?.[1] ?? 'misc';
}

beforeEach(function () {
  currentTest = this.currentTest?.title ?? '';
});

/** Appends a measurement to $AF_RELIABILITY_OUT/measurements.jsonl (no-op when the variable is unset). */
export function record(measurement: Measurement): void {
  const dir = process.env.AF_RELIABILITY_OUT;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  appendFileSync(path.join(dir, 'measurements.jsonl'), `${JSON.stringify({ case: currentCase(), test: currentTest, at: Date.now(), ...measurement })}\n`);
}

// ------------------------------------------------------------------ fixtures

/** A server whose received requests can be searched for the canary. */
interface Scannable {
  origin: string;
  texts(): string[];
}

export interface RelFixtures extends Fixtures {
  /** Servers started through these fixtures, with the text of every request they saw. */
  readonly scannable: Scannable[];
  raw(script: RawScript, options?: { host?: string; waitForRequest?: boolean }): Promise<RawServer>;
  endless(options: EndlessServerOptions): Promise<EndlessServer>;
  tls(target: { host: string; port: number }, certificate: TestCertificate, options?: { host?: string }): Promise<TlsFront>;
  proxy(target: ProxyTarget | string, mode?: ProxyMode, options?: { host?: string }): Promise<FaultProxy>;
}

/** useFixtures() plus tracking of every server for canary scans, and more kinds of servers. */
export function useRelFixtures(): RelFixtures {
  const fx = useFixtures();
  const scannable: Scannable[] = [];
  afterEach(() => { scannable.length = 0; });
  const mirrorTexts = (mirror: Mirror) => () => mirror.requests.map((r) => `${r.method} ${r.url}\n${JSON.stringify(r.headers)}`);
  return {
    ...fx,
    scannable,
    async mirror(options: MirrorOptions) {
      const mirror = await fx.mirror(options);
      scannable.push({ origin: mirror.origin, texts: mirrorTexts(mirror) });
      return mirror;
    },
    async raw(script, options) {
      const server = await startRawServer(script, options);
      fx.defer(() => server.close());
      scannable.push({ origin: server.origin, texts: () => server.requests.map((r) => r.head) });
      return server;
    },
    async endless(options) {
      const server = await startEndlessServer(options);
      fx.defer(() => server.close());
      scannable.push({ origin: server.origin, texts: () => server.connections.map((c) => `${c.request.method} ${c.request.path}\n${JSON.stringify(c.request.headers)}`) });
      return server;
    },
    async tls(target, certificate, options) {
      const front = await startTlsFront(target, certificate, options);
      fx.defer(() => front.close());
      return front;
    },
    async proxy(target, mode, options) {
      const proxy = await startProxy(target, mode, options);
      fx.defer(() => proxy.close());
      return proxy;
    },
  };
}

/**
 * Logs every request the engine starts (URL and time, by the engine's own clock) until the test
 * ends. A mirror in this same event loop may log a request sent just before an event (a ban, a
 * cancel) a little after it; this log says when the engine decided to send it.
 */
export function logEngineRequests(fx: Fixtures): Array<{ url: string; at: number; start: number }> {
  const log: Array<{ url: string; at: number; start: number }> = [];
  const original = HttpTransport.prototype.getRange;
  HttpTransport.prototype.getRange = function (this: HttpTransport, ...args: Parameters<HttpTransport['getRange']>) {
    log.push({ url: args[0], at: Date.now(), start: args[1] });
    return original.apply(this, args);
  };
  fx.defer(() => { HttpTransport.prototype.getRange = original; });
  return log;
}

// ------------------------------------------------------------------ canary and integrity checks

/** Every place a text contains the canary (raw, percent-encoded or base64). */
export function canaryHits(where: string, texts: Iterable<string>): string[] {
  const forms = [CANARY, encodeURIComponent(CANARY), Buffer.from(CANARY).toString('base64').replace(/=+$/, '')];
  const hits: string[] = [];
  for (const text of texts) {
    if (forms.some((form) => text.includes(form))) hits.push(`${where}: ${text.slice(0, 200)}`);
  }
  return hits;
}

export interface RelRunOptions extends RunJobHooks {
  /** The origin that holds the canary credential (default: the primary's); false = no canary. */
  canaryOrigin?: string | false;
  /** More origins that may legitimately see the canary (e.g. a plain mirror behind a TLS front). */
  trustedOrigins?: string[];
  /** SHA-256 of the trusted artifact: a file at the output path must have it (figure 1). */
  trustedSha256?: string;
  /** The test itself creates a file at the output path during the run (F04). */
  testWritesOutput?: boolean;
}

export interface RelRun extends JobRun {
  /** Where the canary was found (must stay empty). */
  leaks: string[];
}

function originKey(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.hostname.replace(/^\[|\]$/g, '')}:${parsed.port || (parsed.protocol === 'https:' ? '443' : '80')}`;
}

/**
 * Runs one in-process job with the canary credential bound to the primary's origin, then checks
 * figures 1 and 3: a file at the output path has the trusted hash; the canary reached no other
 * origin and appears in no event, snapshot or result. Records both.
 */
export async function runRel(fx: RelFixtures, options: JobOptions, opts: RelRunOptions = {}): Promise<RelRun> {
  const canaryOrigin = opts.canaryOrigin === false ? undefined : opts.canaryOrigin ?? new URL(options.sources[0].url).origin;
  const withCanary: JobOptions = canaryOrigin && !options.originHeaders?.[canaryOrigin]
    ? { ...options, originHeaders: { ...options.originHeaders, [canaryOrigin]: { authorization: CANARY_HEADER } } }
    : options;
  const seenBefore = new Map(fx.scannable.map((s) => [s, s.texts().length]));
  const existedBefore = await fsp.lstat(options.outputPath).then(() => true, () => false);
  const run = await runJob(fx, withCanary, opts);
  const leaks = scanRun(fx, run.events, run.snapshots, run.result, [canaryOrigin, ...(opts.trustedOrigins ?? [])].filter((o): o is string => !!o), seenBefore);
  record({ figure: 'secrets', requestsScanned: countRequests(fx), leaks: leaks.length, where: leaks.slice(0, 3) });
  assert.deepEqual(leaks, [], 'the canary credential leaked (figure 3)');
  await checkPublished(options.outputPath, opts.trustedSha256 ?? options.expected?.sha256, run.result.ok, existedBefore, opts.testWritesOutput);
  return { ...run, leaks };
}

/**
 * Runs a job until its journal lists at least `pieces` done pieces, then cancels it (the .part and
 * journal stay for a resume). Returns the journaled piece indexes.
 */
export async function interruptAfter(fx: RelFixtures, options: JobOptions, pieces: number): Promise<number[]> {
  const { journal } = statePaths(options.outputPath, options.stateDir);
  const { result } = await runRel(fx, options, {
    onStart: (job) => {
      void waitFor(async () => ((await readJournalDone(journal))?.done.length ?? 0) >= pieces, 20_000, `${pieces} journaled pieces`, 10).then(() => job.cancel(), () => job.cancel());
    },
  });
  assert.equal(result.error?.code, 'E_INTERRUPTED', JSON.stringify(result.error));
  const saved = await readJournalDone(journal);
  assert.ok(saved && saved.done.length >= pieces, `the journal lists ${saved?.done.length ?? 0} pieces`);
  return saved.done;
}

function countRequests(fx: RelFixtures): number {
  return fx.scannable.reduce((sum, s) => sum + s.texts().length, 0);
}

/** Canary hits in the requests other origins saw, and in everything the job reported. */
export function scanRun(fx: RelFixtures, events: JobEvent[], snapshots: JobSnapshot[], result: unknown, allowedOrigins: string[], seenBefore?: Map<Scannable, number>): string[] {
  const allowed = new Set(allowedOrigins.map(originKey));
  const hits: string[] = [];
  for (const server of fx.scannable) {
    if (allowed.has(originKey(server.origin))) continue;
    // Only what this run sent (an earlier run may have had another origin for the canary).
    hits.push(...canaryHits(`request to ${server.origin}`, server.texts().slice(seenBefore?.get(server) ?? 0)));
  }
  hits.push(...canaryHits('event', events.map((e) => e.message)));
  hits.push(...canaryHits('snapshot', snapshots.map((s) => JSON.stringify(s))));
  hits.push(...canaryHits('result', [JSON.stringify(result)]));
  return hits;
}

/**
 * Figure 1: a file that appeared at `output` during the run is a publication; it must come from a
 * successful run and carry the trusted SHA-256 (when one is known). A file that was there before
 * (`existedBefore`, F04) or that the test itself put there (`createdByTest`) is not one.
 */
export async function checkPublished(output: string, trustedSha256: string | undefined, reportedOk: boolean, existedBefore = false, createdByTest = false): Promise<void> {
  const present = await fsp.lstat(output).then((s) => s.isFile(), () => false);
  if (!present || existedBefore || createdByTest) {
    record({ figure: 'integrity', published: false, unverified: false });
    return;
  }
  const sha = trustedSha256 ? await sha256FileHex(output) : undefined;
  const unverified = !reportedOk || (!!trustedSha256 && sha !== trustedSha256.toLowerCase());
  record({ figure: 'integrity', published: true, unverified });
  assert.ok(reportedOk, `a file appeared at ${output} although the job failed`);
  assert.ok(!unverified, `a file at ${output} does not have the trusted SHA-256`);
}

// ------------------------------------------------------------------ containment (figure 2)

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  sha256?: string;
  mtimeMs: number;
}

/** Every entry below `root` (symlinks not followed), with file hashes, except under `skip` paths. */
export function snapshotTree(root: string, skip: string[] = []): Map<string, TreeEntry> {
  const entries = new Map<string, TreeEntry>();
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const full = path.join(dir, name);
      if (skip.some((s) => full === s || full.startsWith(`${s}${path.sep}`))) continue;
      const stat = lstatSync(full);
      if (stat.isSymbolicLink()) entries.set(full, { type: 'symlink', size: stat.size, mtimeMs: stat.mtimeMs });
      else if (stat.isDirectory()) {
        entries.set(full, { type: 'dir', size: 0, mtimeMs: stat.mtimeMs });
        walk(full);
      } else if (stat.isFile()) {
        entries.set(full, { type: 'file', size: stat.size, sha256: createHash('sha256').update(readFileSync(full)).digest('hex'), mtimeMs: stat.mtimeMs });
      } else entries.set(full, { type: 'other', size: 0, mtimeMs: stat.mtimeMs });
    }
  };
  walk(root);
  return entries;
}

/** What changed between two snapshots: new files (bytes), and pre-existing files modified or removed. */
export function treeChanges(before: Map<string, TreeEntry>, after: Map<string, TreeEntry>): { created: string[]; bytesCreated: number; modified: string[] } {
  const created: string[] = [];
  const modified: string[] = [];
  let bytesCreated = 0;
  for (const [file, entry] of after) {
    const old = before.get(file);
    if (!old) {
      created.push(file);
      bytesCreated += entry.size;
    } else if (old.type !== entry.type || old.sha256 !== entry.sha256 || old.size !== entry.size) modified.push(file);
  }
  for (const file of before.keys()) if (!after.has(file)) modified.push(file);
  return { created, bytesCreated, modified };
}

/** Records and asserts figure 2 for a change set outside the target folder. */
export function checkContained(changes: ReturnType<typeof treeChanges>, what: string): void {
  record({ figure: 'containment', bytesOutside: changes.bytesCreated, filesOutside: changes.created.length, preexistingModified: changes.modified.length });
  assert.deepEqual(changes.created, [], `${what}: files created outside the target folder`);
  assert.deepEqual(changes.modified, [], `${what}: pre-existing files modified outside the target folder`);
}

// ------------------------------------------------------------------ processes

export interface MonitoredRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident set of the process, bytes (exact from its own resourceUsage, else /proc VmHWM). */
  peakRssBytes: number;
  /** Highest VmHWM seen in /proc/<pid>/status (kB * 1024). */
  vmHwmBytes: number;
  peakFds: number;
  /** Every socket, the stdio socketpairs of `spawn` (fds 1 and 2) included. */
  peakSockets: number;
  /** Sockets other than stdio: the process's network connections. */
  peakNetworkSockets: number;
  ms: number;
}

export interface MonitoredProcess {
  pid: number;
  done: Promise<MonitoredRun>;
  kill(signal: NodeJS.Signals): void;
}

const PEAK_RSS_PRELOAD = path.join(__dirname, '../../bench/peakRss.js');

/**
 * Starts `node <script> ...args` asynchronously (never spawnSync: the mirrors live in this event
 * loop) and samples its fds, sockets and VmHWM from /proc every `sampleMs`.
 */
export function startMonitored(script: string, args: string[], options: { sampleMs?: number; nodeArgs?: string[]; env?: Record<string, string> } = {}): MonitoredProcess {
  const rssFile = path.join(os.tmpdir(), `af-peak-rss-${process.pid}-${randomBytes(4).toString('hex')}`);
  const startedAt = Date.now();
  const child = spawn(process.execPath, ['--require', PEAK_RSS_PRELOAD, ...(options.nodeArgs ?? []), script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', BENCH_PEAK_RSS_FILE: rssFile, ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => { stdout += t; });
  child.stderr.setEncoding('utf8').on('data', (t: string) => { stderr += t; });
  let vmHwm = 0;
  let peakFds = 0;
  let peakSockets = 0;
  let peakNetworkSockets = 0;
  const sample = (): void => {
    const pid = child.pid;
    if (!pid) return;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const match = /VmHWM:\s+(\d+) kB/.exec(status);
      if (match) vmHwm = Math.max(vmHwm, Number(match[1]) * 1024);
      const fds = readdirSync(`/proc/${pid}/fd`);
      peakFds = Math.max(peakFds, fds.length);
      let sockets = 0;
      let networkSockets = 0;
      for (const fd of fds) {
        try {
          if (!(readlinkSafe(`/proc/${pid}/fd/${fd}`) ?? '').startsWith('socket:')) continue;
          sockets++;
          if (Number(fd) > 2) networkSockets++;
        } catch {
          // fd closed meanwhile
        }
      }
      peakSockets = Math.max(peakSockets, sockets);
      peakNetworkSockets = Math.max(peakNetworkSockets, networkSockets);
    } catch {
      // the process is gone
    }
  };
  const timer = setInterval(sample, options.sampleMs ?? 25);
  const done = new Promise<MonitoredRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearInterval(timer);
      let exact = 0;
      try {
        exact = Number(readFileSync(rssFile, 'utf8'));
        rmSync(rssFile, { force: true });
      } catch {
        // killed: no exact figure
      }
      resolve({ code, signal, stdout, stderr, peakRssBytes: Math.max(exact, vmHwm), vmHwmBytes: vmHwm, peakFds, peakSockets, peakNetworkSockets, ms: Date.now() - startedAt });
    });
  });
  sample();
  return { pid: child.pid!, done, kill: (signal) => child.kill(signal) };
}

function readlinkSafe(file: string): string | undefined {
  try {
    return readlinkSync(file);
  } catch {
    return undefined;
  }
}

/** The bundled CLI (today's sources), started through startMonitored. */
export async function startCliMonitored(args: string[], options: { sampleMs?: number; env?: Record<string, string> } = {}): Promise<MonitoredProcess> {
  return startMonitored(await buildCli(), args, options);
}

let workerBuild: Promise<string> | undefined;

/** Bundles src/worker/workerMain.ts once per process, the way esbuild.js builds dist/worker.js. */
export function buildWorker(): Promise<string> {
  workerBuild ??= (async () => {
    const esbuild = await import('esbuild');
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'af-worker-bundle-'));
    const outfile = path.join(dir, 'worker.js');
    await esbuild.build({
      entryPoints: [path.join(__dirname, '../../src/worker/workerMain.ts')],
      bundle: true,
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      outfile,
      external: ['vscode'],
      logLevel: 'silent',
    });
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return outfile;
  })();
  return workerBuild;
}

/** Test-side helper to run the in-process engine job runner in a child (tsx), see helpers/jobChild.ts. */
export const JOB_CHILD = path.join(__dirname, 'helpers', 'jobChild.ts');
export const TSX_REQUIRE = ['--require', require.resolve('tsx/cjs')];

/** Runs helpers/jobChild.ts with JobOptions (and optional injected faults); resolves with its result. */
export async function runJobChild(options: JobOptions, faults: { slowWriteMs?: number; failWritesAfterBytes?: number } = {}): Promise<MonitoredRun & { result: import('../../src/engine/snapshot').DownloadResult }> {
  const child = startMonitored(JOB_CHILD, [JSON.stringify({ options, faults })], { nodeArgs: TSX_REQUIRE });
  const run = await child.done;
  const line = run.stdout.trim().split('\n').pop() ?? '';
  let result;
  try {
    result = JSON.parse(line);
  } catch {
    throw new Error(`jobChild printed no result (code ${run.code}): ${run.stderr.slice(0, 2000)}`);
  }
  return { ...run, result };
}

export function hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The strong ETag a mirror sends (what the engine keeps as the validator). */
export async function etagOf(mirror: Mirror): Promise<string> {
  const response = await request(mirror.url, { method: 'HEAD' });
  await response.body.dump();
  return String(response.headers.etag);
}

/**
 * Writes a .part holding the whole artifact and a journal listing every piece, as a session killed
 * right before its publish leaves them (journal format: src/engine/journal.ts).
 */
export async function writeCompleteState(output: string, body: Buffer, primaryUrl: string, etag: string | undefined, sha256?: string, pieceSize = 64 * 1024): Promise<void> {
  const { stateDir, part, journal } = statePaths(output);
  await fsp.mkdir(stateDir, { recursive: true });
  await fsp.writeFile(part, body);
  const done: number[] = [];
  const leaves: string[] = [];
  for (let i = 0; i * pieceSize < body.length; i++) {
    done.push(i);
    leaves.push(leafHash(body.subarray(i * pieceSize, (i + 1) * pieceSize)).toString('hex'));
  }
  await saveJournal(journal, { identity: { primaryUrl, size: body.length, pieceSize, validator: etag, expectedSha256: sha256, expectedRoot: undefined }, done, leaves, savedAt: Date.now() });
}

/** An EngineClient on the bundled worker that keeps a handle on every worker it spawns (to kill one). */
export async function workerClient(fx: Fixtures): Promise<{ client: EngineClient; workers: Worker[] }> {
  const workers: Worker[] = [];
  const client = new EngineClient({
    workerPath: await buildWorker(),
    spawnWorker: (entry, execArgv) => {
      const worker = new Worker(entry, { execArgv });
      workers.push(worker);
      return worker;
    },
  });
  fx.defer(() => client.dispose());
  return { client, workers };
}

export type { Mirror, JobRun };
