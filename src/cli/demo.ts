/**
 * `npm run demo`: the whole product on this machine with no configuration. Six loopback mirrors of
 * a generated artifact — fast, medium (dies midway), slow, trickling, one that corrupts bytes and
 * one that holds another version — and one download with live progress, then what each source
 * contributed and why the engine promoted, demoted, dropped, excluded or banned it.
 */
// First: its V8 flag must be set before anything compiles WebAssembly.
import './processFlags';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { DownloadJob, formatRate } from '../engine/downloadJob';
import { leafHash, merkleRoot } from '../engine/integrity/merkleTree';
import { makeArtifact, sha256Hex } from '../../test/harness/artifact';
import { startMirror, type Mirror, type MirrorOptions } from '../../test/harness/mirrorServer';
import { ProgressView } from './progressView';

const SIZE = Number(process.env.DEMO_SIZE_MB ?? 192) * 1024 * 1024;
const PIECE_SIZE = 256 * 1024;

async function main(): Promise<void> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'artifact-fetch-demo-'));
  const mirrors: Mirror[] = [];
  try {
    process.stderr.write(`Generating a ${SIZE / 2 ** 20} MiB artifact and its Merkle manifest…\n`);
    const body = makeArtifact(SIZE, 'demo');
    const leaves: Buffer[] = [];
    for (let offset = 0; offset < SIZE; offset += PIECE_SIZE) leaves.push(leafHash(body.subarray(offset, offset + PIECE_SIZE)));
    const root = merkleRoot(leaves).toString('hex');

    const plan: Array<[string, MirrorOptions]> = [
      ['fast      40 MB/s,  5 ms', { body, bytesPerSecond: 40e6, latencyMs: 5 }],
      ['medium    20 MB/s, 20 ms, dies after 2 s', { body, bytesPerSecond: 20e6, latencyMs: 20, dieAfterMs: 2000 }],
      ['slow       8 MB/s, 40 ms', { body, bytesPerSecond: 8e6, latencyMs: 40 }],
      ['trickle    2 MB/s, 80 ms', { body, bytesPerSecond: 2e6, latencyMs: 80 }],
      ['corrupt   15 MB/s, flips bytes', { body, bytesPerSecond: 15e6, latencyMs: 10, corrupt: { everyBytes: 3 * 1024 * 1024 + 17 } }],
      ['other version', { body: makeArtifact(SIZE, 'demo-v2'), bytesPerSecond: 30e6 }],
    ];
    for (const [label, options] of plan) {
      const mirror = await startMirror(options);
      mirrors.push(mirror);
      process.stderr.write(`  mirror #${mirrors.length - 1} ${mirror.url}  (${label})\n`);
    }
    const outputPath = path.join(workDir, 'model.safetensors');
    const job = new DownloadJob({
      sources: mirrors.map((m) => ({ url: m.url, origin: 'demo' })),
      outputPath,
      expected: { size: SIZE, pieceSize: PIECE_SIZE, root, leaves: leaves.map((l) => l.toString('hex')) },
    });
    const view = process.stderr.isTTY ? new ProgressView(job) : undefined;
    let lastLine = 0;
    const plainProgress = setInterval(() => {
      if (view || Date.now() - lastLine < 1000) return;
      lastLine = Date.now();
      const s = job.snapshot();
      process.stderr.write(`  ${s.state} ${((100 * s.bytesDone) / Math.max(1, s.size)).toFixed(0)}% ${formatRate(s.bytesPerSecond)} · ${s.sources.map((x) => `#${x.id} ${x.state}`).join(', ')}\n`);
    }, 250);
    process.stderr.write(`\nFetching ${path.basename(outputPath)} from ${mirrors.length} mirrors, every piece checked against root ${root.slice(0, 16)}…\n`);
    view?.start();
    const result = await job.run();
    view?.stop();
    clearInterval(plainProgress);

    process.stdout.write(`\n${result.ok ? 'OK' : 'FAILED'}: ${result.path}\n`);
    process.stdout.write(`  ${result.size} bytes in ${result.seconds.toFixed(2)} s = ${formatRate(result.size / result.seconds)}; verified by ${result.verifiedBy}; sha256 ${result.sha256}\n`);
    process.stdout.write(`  matches the generated artifact: ${result.sha256 === sha256Hex(body)}\n\nSources:\n`);
    for (const [i, source] of result.sources.entries()) {
      process.stdout.write(`  #${i} ${source.state.padEnd(9)} ${(source.bytes / 1e6).toFixed(1).padStart(7)} MB  ${formatRate(source.meanBytesPerSecond).padStart(12)}  ${source.reason}\n`);
    }
    process.stdout.write('\nWhy (decisions in order):\n');
    for (const event of job.eventLog()) {
      if (event.kind === 'probe' || event.kind === 'info') continue;
      process.stdout.write(`  +${((event.at - job.snapshot().startedAt) / 1000).toFixed(2)}s ${event.kind.padEnd(9)} ${event.message}\n`);
    }
    await writeFile(path.join(workDir, 'result.json'), JSON.stringify(result, null, 2));
    process.exitCode = result.ok ? 0 : 1;
  } finally {
    await Promise.all(mirrors.map((m) => m.close()));
    await rm(workDir, { recursive: true, force: true });
  }
}

void main();
