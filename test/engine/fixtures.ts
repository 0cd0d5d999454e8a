/**
 * Shared fixtures for the engine suite: temp folders and mirrors that are cleaned up after every
 * test, a `runJob` that records events and snapshots, and helpers to read what each mirror was
 * asked for (Range headers) and what landed on disk.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { DownloadJob } from '../../src/engine/downloadJob';
import type { JobOptions } from '../../src/engine/jobOptions';
import type { DownloadResult, JobEvent, JobSnapshot } from '../../src/engine/snapshot';
import { sha256FileHex } from '../harness/artifact';
import { startMirror, type Mirror, type MirrorOptions, type MirrorRequest } from '../harness/mirrorServer';

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** Bytes the engine's probe asks for (`bytes=0-65535`), see sourceProbe.ts. */
export const PROBE_BYTES = 64 * KiB;
/** Bytes of the identity spot check (one block at a random offset), see downloadJob.ts. */
export const SPOT_BYTES = 16 * KiB;

export interface Fixtures {
  /** A fresh temp folder, removed after the test. */
  tempDir(): Promise<string>;
  /** Starts a loopback mirror that is closed after the test. */
  mirror(options: MirrorOptions): Promise<Mirror>;
  /** Registers a job so that it is cancelled (and awaited) after the test if still running. */
  track(job: DownloadJob, running: Promise<unknown>): void;
  /** Registers any cleanup to run after the test. */
  defer(fn: () => unknown): void;
}

/** Call once per `describe`: registers an `afterEach` that closes mirrors and removes temp dirs. */
export function useFixtures(): Fixtures {
  let dirs: string[] = [];
  let mirrors: Mirror[] = [];
  let jobs: Array<{ job: DownloadJob; running: Promise<unknown> }> = [];
  let deferred: Array<() => unknown> = [];
  afterEach(async function () {
    this.timeout(20_000);
    for (const { job, running } of jobs) {
      job.cancel(true);
      await running.catch(() => undefined);
    }
    for (const fn of deferred.reverse()) await fn();
    await Promise.all(mirrors.map((m) => m.close()));
    await Promise.all(dirs.map((d) => fsp.rm(d, { recursive: true, force: true })));
    dirs = [];
    mirrors = [];
    jobs = [];
    deferred = [];
  });
  return {
    async tempDir() {
      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'af-engine-'));
      dirs.push(dir);
      return dir;
    },
    async mirror(options) {
      const mirror = await startMirror(options);
      mirrors.push(mirror);
      return mirror;
    },
    track(job, running) {
      jobs.push({ job, running });
    },
    defer(fn) {
      deferred.push(fn);
    },
  };
}

export interface JobRun {
  job: DownloadJob;
  result: DownloadResult;
  events: JobEvent[];
  /** Snapshots sampled every `snapshotEveryMs` while the job ran (plus one at the end). */
  snapshots: JobSnapshot[];
  /** Wall time of `run()`, ms. */
  ms: number;
}

export interface RunJobHooks {
  snapshotEveryMs?: number;
  /** Called with the job right after it was created (to pause, cancel, listen...). */
  onStart?: (job: DownloadJob) => void;
}

/** Runs one job to its end, recording its events and periodic snapshots. */
export async function runJob(fx: Fixtures, options: JobOptions, hooks: RunJobHooks = {}): Promise<JobRun> {
  const job = new DownloadJob(options);
  const events: JobEvent[] = [];
  const snapshots: JobSnapshot[] = [];
  job.on('event', (event: JobEvent) => events.push(event));
  const timer = setInterval(() => snapshots.push(job.snapshot()), hooks.snapshotEveryMs ?? 50);
  const startedAt = Date.now();
  const running = job.run();
  fx.track(job, running);
  hooks.onStart?.(job);
  try {
    const result = await running;
    snapshots.push(job.snapshot());
    return { job, result, events, snapshots, ms: Date.now() - startedAt };
  } finally {
    clearInterval(timer);
  }
}

/** Parsed `Range: bytes=a-b` of a logged request (inclusive end), or undefined. */
export function rangeOf(request: MirrorRequest): { start: number; end: number } | undefined {
  const match = /^bytes=(\d+)-(\d+)$/.exec(request.range ?? '');
  return match ? { start: Number(match[1]), end: Number(match[2]) } : undefined;
}

/** Length of a request's range (inclusive end), or undefined. */
export function rangeLength(request: MirrorRequest): number | undefined {
  const r = rangeOf(request);
  return r ? r.end - r.start + 1 : undefined;
}

/**
 * Bytes the primary's probe asks for on a fresh HTTP download: its response goes on as the
 * reference's first segment (see downloadJob.ts, LEAD_BYTES).
 */
export const LEAD_PROBE_BYTES = 4 * MiB;

/** True for a probe request (`bytes=0-65535`, or the primary's `bytes=0-4194303`). */
export function isProbe(request: MirrorRequest): boolean {
  return request.range === `bytes=0-${PROBE_BYTES - 1}` || isLeadProbe(request);
}

/** True for the primary's probe whose response goes on as its first segment (work, too). */
export function isLeadProbe(request: MirrorRequest): boolean {
  return request.range === `bytes=0-${LEAD_PROBE_BYTES - 1}`;
}

/** True for the identity spot-check request (one 16 KiB block at an offset not piece-aligned). */
export function isSpotCheck(request: MirrorRequest, pieceSize: number): boolean {
  const r = rangeOf(request);
  return !!r && r.end - r.start + 1 === SPOT_BYTES && r.start % pieceSize !== 0 && (r.end + 1) % pieceSize !== 0;
}

/**
 * The requests that carried segment work: not a sample probe, not the spot check; the primary's
 * lead probe counts (its response is read on as the first segment).
 */
export function workRequests(mirror: Mirror, pieceSize: number): MirrorRequest[] {
  return mirror.requests.filter((r) => r.method === 'GET' && (isLeadProbe(r) || !isProbe(r)) && !isSpotCheck(r, pieceSize));
}

/** Body bytes served for segment work. */
export function workBytes(mirror: Mirror, pieceSize: number): number {
  return workRequests(mirror, pieceSize).reduce((sum, r) => sum + r.bytesSent, 0);
}

/** Asserts the file at `file` has exactly `expected`'s SHA-256 (and size). */
export async function assertFileEquals(file: string, expected: Buffer, message?: string): Promise<void> {
  const stat = await fsp.stat(file);
  assert.equal(stat.size, expected.length, `${message ?? file}: size`);
  assert.equal(await sha256FileHex(file), createHash('sha256').update(expected).digest('hex'), `${message ?? file}: sha256`);
}

export async function exists(file: string): Promise<boolean> {
  return fsp.lstat(file).then(() => true, () => false);
}

/** Resolves once `predicate` holds (checked every `everyMs`), or rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The state folder, part and journal paths the engine uses for `outputPath` (default stateDir). */
export function statePaths(outputPath: string): { stateDir: string; part: string; journal: string; lock: string } {
  const stateDir = path.join(path.dirname(outputPath), '.artifact-fetch');
  const base = path.basename(outputPath);
  return {
    stateDir,
    part: path.join(stateDir, `${base}.part`),
    journal: path.join(stateDir, `${base}.journal.json`),
    lock: path.join(stateDir, `${base}.lock`),
  };
}

/** Reads a journal file (format in src/engine/journal.ts): the done piece indexes, or undefined. */
export async function readJournalDone(file: string): Promise<{ done: number[]; leaves: string[]; pieceSize: number; size: number } | undefined> {
  try {
    const outer = JSON.parse(await fsp.readFile(file, 'utf8')) as { format: string; checksum: string; body: string };
    const body = JSON.parse(outer.body) as { done: number[]; leaves: string[]; identity: { pieceSize: number; size: number } };
    return { done: body.done, leaves: body.leaves, pieceSize: body.identity.pieceSize, size: body.identity.size };
  } catch {
    return undefined;
  }
}

/**
 * Every byte of [0, size) covered by the union of `ranges` (inclusive ends)? Returns the first
 * uncovered offset, or -1 when everything is covered.
 */
export function firstGap(ranges: Array<{ start: number; end: number }>, size: number): number {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  let covered = 0;
  for (const r of sorted) {
    if (covered >= size) return -1;
    if (r.start > covered) return covered;
    covered = Math.max(covered, r.end + 1);
  }
  return covered >= size ? -1 : covered;
}

/**
 * An `onRequest` hook that applies `patch` to the mirror from its first work request on (after
 * the probe and the spot check), e.g. a mirror that is fast to probe and then slows down.
 */
export function afterProbe(patch: Partial<MirrorOptions>, pieceSize: number, onApply?: (request: MirrorRequest) => void): MirrorOptions['onRequest'] {
  let applied = false;
  return (_req, _res, { mirror, entry }) => {
    if (!applied && !isProbe(entry) && !isSpotCheck(entry, pieceSize)) {
      applied = true;
      mirror.update(patch);
      onApply?.(entry);
    }
    return false;
  };
}

let cliBuild: Promise<string> | undefined;

/**
 * Bundles the CLI (src/cli/main.ts) once per test process into a temp folder, the way esbuild.js
 * builds dist/cli.js, so CLI tests run today's sources without touching dist/.
 */
export function buildCli(): Promise<string> {
  cliBuild ??= (async () => {
    const esbuild = await import('esbuild');
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'af-cli-'));
    const outfile = path.join(dir, 'cli.js');
    await esbuild.build({
      entryPoints: [path.join(__dirname, '../../src/cli/main.ts')],
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
  return cliBuild;
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  pid: number;
  /** Resolves when the process exits. */
  done: Promise<CliRun>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts `node cli.js ...args` asynchronously (the mirrors live in this process's event loop). */
export async function startCli(args: string[], cwd?: string): Promise<CliProcess> {
  const cli = await buildCli();
  const child = spawn(process.execPath, [cli, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  const done = new Promise<CliRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { pid: child.pid!, done, kill: (signal) => child.kill(signal) };
}

/** Runs the CLI to its end (killed after `timeoutMs`). */
export async function runCli(args: string[], timeoutMs = 20_000, cwd?: string): Promise<CliRun> {
  const child = await startCli(args, cwd);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    return await child.done;
  } finally {
    clearTimeout(timer);
  }
}
