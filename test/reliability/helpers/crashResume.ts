/**
 * R01, kill -9 and resume, shared by the default suite (a few kills) and the slow suite (20):
 * runs the bundled CLI against one loopback mirror, kills it with SIGKILL at random points (a
 * random moment, a random byte count, right after a journal write), resumes each time, and
 * measures what each resumed session fetched again against the bound of RELIABILITY.md figure 4:
 *
 *   re-fetched bytes <= the pieces in flight (connections x piece size, plus what a channel buffers
 *                       before a write: 200 ms of its rate)
 *                     + one journal interval (the engine saves every 1 s, checked every 200 ms tick)
 *                       at the source's rate
 *                     + the probe's 64 KiB sample (every session probes again).
 *
 * and, exactly: no piece the journal on disk listed at the kill is asked for again.
 */
import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { leafHash, merkleRoot } from '../../../src/engine/integrity/merkleTree';
import { makeArtifact, sha256Hex } from '../../harness/artifact';
import type { Mirror, MirrorRequest } from '../../harness/mirrorServer';
import { PROBE_BYTES, buildCli, rangeOf, sleep, startCli, statePaths, type Fixtures } from '../../engine/fixtures';

/** src/engine/downloadJob.ts: JOURNAL_EVERY_MS + TICK_MS. */
export const JOURNAL_INTERVAL_MS = 1000 + 200;

export interface KillReport {
  kill: number;
  trigger: string;
  /** ms after the CLI was spawned. */
  atMs: number;
  /** Pieces the journal on disk listed right before the kill. */
  journaled: number;
  /** ms between the journal's save and the kill. */
  msSinceSave: number;
  /** Bytes received before the kill that the journal on disk did not cover (progress lost). */
  unjournaled: number;
  /** Bytes the next session fetched that an earlier session had already received. */
  refetched: number;
  bound: number;
  /** Journaled pieces the next session asked for again (must be none). */
  journaledRefetched: number[];
  held: boolean;
}

export interface CrashResumeReport {
  seed: number;
  kills: KillReport[];
  completedEarly: boolean;
  totalServed: number;
  size: number;
  ms: number;
}

/** A small seeded PRNG (mulberry32), so a failing run can be replayed with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Interval = [number, number]; // [start, end)

function servedIntervals(requests: MirrorRequest[]): Interval[] {
  return requests.filter((r) => r.bytesSent > 0 && rangeOf(r)).map((r) => {
    const start = rangeOf(r)!.start;
    return [start, start + r.bytesSent] as Interval;
  });
}

function merge(intervals: Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  const out: Interval[] = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** Bytes of `intervals` (each counted) that fall inside the merged `covered` set. */
function overlap(intervals: Interval[], covered: Interval[]): number {
  let total = 0;
  for (const [s, e] of intervals) {
    for (const [cs, ce] of covered) {
      const lo = Math.max(s, cs);
      const hi = Math.min(e, ce);
      if (hi > lo) total += hi - lo;
    }
  }
  return total;
}

async function readJournal(file: string): Promise<{ done: number; indexes: number[]; savedAt: number } | undefined> {
  try {
    const outer = JSON.parse(await fsp.readFile(file, 'utf8')) as { body: string };
    const body = JSON.parse(outer.body) as { done: number[]; savedAt: number };
    return { done: body.done.length, indexes: body.done, savedAt: body.savedAt };
  } catch {
    return undefined;
  }
}

/**
 * Fills in, for each kill k, what session k+1 fetched again (`refetched`), the progress the journal
 * on disk did not cover (`unjournaled`), the journaled pieces asked again, and whether the bound held.
 * `sessionStarts[k-1]` is the index of session k's first request in `requests`.
 */
export function accountResumes(kills: KillReport[], requests: MirrorRequest[], sessionStarts: number[], journaledAtKill: Map<number, number[]>, size: number, piece: number): void {
  for (const report of kills) {
    const before = merge(servedIntervals(requests.slice(0, sessionStarts[report.kill])));
    const nextRequests = requests.slice(sessionStarts[report.kill], sessionStarts[report.kill + 1] ?? requests.length);
    const next = servedIntervals(nextRequests);
    const journaled = journaledAtKill.get(report.kill) ?? [];
    const journaledSet = merge(journaled.map((i) => [i * piece, Math.min(size, (i + 1) * piece)] as Interval));
    report.unjournaled = before.reduce((sum, [s, e]) => sum + (e - s), 0) - overlap(before, journaledSet);
    report.refetched = overlap(next, before);
    // Journaled pieces asked again, the session's probe (bytes 0-65535, always asked) aside.
    const probeIndex = nextRequests.findIndex((r) => r.range === `bytes=0-${PROBE_BYTES - 1}`);
    const asked = merge(nextRequests.filter((r, i) => rangeOf(r) && i !== probeIndex).map((r) => [rangeOf(r)!.start, rangeOf(r)!.end + 1] as Interval));
    report.journaledRefetched = journaled.filter((i) => overlap([[i * piece, Math.min(size, (i + 1) * piece)]], asked) > 0);
    report.held = report.refetched <= report.bound && report.journaledRefetched.length === 0;
  }
}

/** The figure-4 bound: pieces in flight, channel buffers, one journal interval, the probe. */
export function resumeBound(connections: number, piece: number, bytesPerSecond: number): number {
  return connections * piece + 0.2 * bytesPerSecond + (bytesPerSecond * JOURNAL_INTERVAL_MS) / 1000 + PROBE_BYTES;
}

export interface CrashResumeOptions {
  kills: number;
  size: number;
  bytesPerSecond: number;
  seed?: number;
  pieceSize?: number;
  connections?: number;
}

/**
 * Runs the whole scenario: `kills` SIGKILLed sessions, then one that completes. Asserts the final
 * file (SHA-256 and Merkle root) and returns the per-kill measurements (the caller asserts the bound).
 */
export async function crashAndResume(fx: Fixtures, options: CrashResumeOptions): Promise<CrashResumeReport> {
  const seed = options.seed ?? (Date.now() % 1_000_000);
  const random = prng(seed);
  const piece = options.pieceSize ?? 64 * 1024;
  const connections = options.connections ?? 4;
  const body = makeArtifact(options.size, `r01-${options.size}`);
  const sha256 = sha256Hex(body);
  const leaves: Buffer[] = [];
  for (let offset = 0; offset < body.length; offset += piece) leaves.push(leafHash(body.subarray(offset, offset + piece)));
  const root = merkleRoot(leaves).toString('hex');
  const mirror: Mirror = await fx.mirror({ body, bytesPerSecond: options.bytesPerSecond });
  const output = path.join(await fx.tempDir(), 'crash.bin');
  const { journal } = statePaths(output);
  const args = ['get', mirror.url, '-o', output, '--piece-size', String(piece), '--root', root, '--sha256', sha256, '--connections', String(connections), '--json', '-q'];
  await buildCli();

  const started = Date.now();
  const kills: KillReport[] = [];
  const sessionStarts: number[] = [];
  let completedEarly = false;
  const bound = resumeBound(connections, piece, options.bytesPerSecond);
  const journaledAtKill = new Map<number, number[]>();
  for (let k = 1; k <= options.kills; k++) {
    sessionStarts.push(mirror.requests.length);
    const spawnedAt = Date.now();
    const cli = await startCli(args);
    fx.defer(() => cli.kill('SIGKILL'));
    let exited = false;
    void cli.done.then(() => { exited = true; });
    const kind = ['time', 'bytes', 'journal'][Math.floor(random() * 3)];
    const servedBefore = mirror.bytesServed;
    const previous = await readJournal(journal);
    const left = options.size - (previous?.done ?? 0) * piece;
    const bytesTarget = servedBefore + Math.max(piece, random() * 0.4 * left);
    const timeTarget = spawnedAt + 250 + random() * 1500;
    const previousSave = previous?.savedAt ?? 0;
    let trigger = kind;
    for (;;) {
      if (exited) break;
      const now = Date.now();
      if (kind === 'time' && now >= timeTarget) break;
      if (kind === 'bytes' && mirror.bytesServed >= bytesTarget) break;
      if (kind === 'journal') {
        const current = await readJournal(journal);
        if (current && current.savedAt > previousSave) break;
        if (now - spawnedAt > 4000) {
          trigger = 'journal (timed out: by time)';
          break;
        }
      }
      await sleep(kind === 'journal' ? 1 : 3);
    }
    if (exited) {
      completedEarly = true;
      break;
    }
    const onDisk = await readJournal(journal);
    const killedAt = Date.now();
    cli.kill('SIGKILL');
    const run = await cli.done;
    if (run.signal !== 'SIGKILL') {
      completedEarly = true;
      break;
    }
    journaledAtKill.set(k, onDisk?.indexes ?? []);
    kills.push({
      kill: k,
      trigger,
      atMs: killedAt - spawnedAt,
      journaled: onDisk?.done ?? 0,
      msSinceSave: onDisk ? killedAt - onDisk.savedAt : -1,
      unjournaled: 0,
      refetched: 0,
      bound,
      journaledRefetched: [],
      held: false,
    });
    await sleep(30);
  }
  // The session that completes (faster: it only has to finish the file).
  sessionStarts.push(mirror.requests.length);
  mirror.update({ bytesPerSecond: options.bytesPerSecond * 4 });
  const final = await startCli(args);
  fx.defer(() => final.kill('SIGKILL'));
  const run = await final.done;
  assert.equal(run.code, 0, `the resumed CLI failed (seed ${seed}): ${run.stderr}`);
  const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as { ok: boolean; sha256: string; root: string };
  assert.equal(result.sha256, sha256, `seed ${seed}`);
  assert.equal(result.root, root, `seed ${seed}`);
  assert.equal(sha256Hex(await fsp.readFile(output)), sha256, `seed ${seed}: the file on disk`);

  // Re-fetched bytes of session k+1: what it was served that sessions <= k had already been served.
  accountResumes(kills, mirror.requests, sessionStarts, journaledAtKill, options.size, piece);
  return { seed, kills, completedEarly, totalServed: mirror.bytesServed, size: options.size, ms: Date.now() - started };
}
