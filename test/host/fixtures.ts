import type { JobOptions } from '../../src/engine/jobOptions';
import type { JobSnapshot, SourceSnapshot } from '../../src/engine/snapshot';
import type { DownloadRequest } from '../../src/model/downloadRecord';

/** Job options for a download of `name` from one loopback source. */
export function sampleOptions(name = 'model.bin'): JobOptions {
  return { sources: [{ url: `http://127.0.0.1:9/${name}` }], outputPath: `/ws/artifacts/${name}`, stateDir: '/ws/.artifact-fetch' };
}

export function sampleRequest(name = 'model.bin'): DownloadRequest {
  return { name, options: sampleOptions(name), origin: 'palette' };
}

export function sampleSource(overrides: Partial<SourceSnapshot> = {}): SourceSnapshot {
  return {
    id: 0, url: 'http://mirror-a.test:8080/model.bin', state: 'active', reason: 'fastest: 38.2 MB/s', rank: 1, score: 1.2,
    bytes: 4_000_000, bytesPerSecond: 38_200_000, latencyMs: 12, strikes: 0, connections: 4, share: 0.41,
    priority: 0, cost: 0, ...overrides,
  };
}

export function sampleSnapshot(jobId: string, overrides: Partial<JobSnapshot> = {}): JobSnapshot {
  return {
    jobId, name: 'model.bin', outputPath: '/ws/artifacts/model.bin', state: 'downloading',
    size: 100_000_000, pieceSize: 1_048_576, pieceCount: 96, piecesVerified: 40,
    bytesDone: 42_000_000, bytesPerSecond: 73_200_000, etaSeconds: 65, startedAt: 0,
    sources: [sampleSource()], segments: [], pattern: [0], ...overrides,
  };
}
