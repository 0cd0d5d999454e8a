/**
 * Stream URLs for running jobs: `http://127.0.0.1:<port>/<job id>/<file name>?token=<token>`,
 * one random 256-bit token per job, compared in constant time. A wrong or missing token and an
 * unknown job both answer 403 (a probe learns nothing about which jobs exist). The file name
 * segment is only for the consumer (many programs name the file after it); any name works.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LoopbackServer, type ByteSource, type Resolution } from './loopbackServer';
import type { VerifiedStreams } from './verifiedStreams';

interface PublishedJob {
  token: string;
  source: ByteSource;
  url: string;
}

export class StreamEndpoint {
  private constructor(private readonly server: LoopbackServer, private readonly jobs: Map<string, PublishedJob>) {}

  /** Starts the endpoint's server on 127.0.0.1:`port` (0 = any free port). */
  static async start(port = 0): Promise<StreamEndpoint> {
    const jobs = new Map<string, PublishedJob>();
    const server = await LoopbackServer.start((url) => resolveStreamUrl(url, jobs), port);
    return new StreamEndpoint(server, jobs);
  }

  get origin(): string {
    return this.server.origin;
  }

  /**
   * The stream URL (with its token) of a job; publishing the same job again returns the same URL.
   * Every GET of it opens a new reader on `streams`.
   */
  publish(jobId: string, name: string, streams: VerifiedStreams): string {
    const known = this.jobs.get(jobId);
    if (known) return known.url;
    const token = randomBytes(32).toString('base64url');
    const url = `${this.server.origin}/${encodeURIComponent(jobId)}/${encodeURIComponent(name)}?token=${token}`;
    const source: ByteSource = { name, size: () => streams.size(), open: (start, end) => streams.open(start, end) };
    this.jobs.set(jobId, { token, source, url });
    return url;
  }

  /** Forgets a job: its URL answers 403 from now on. */
  unpublish(jobId: string): void {
    this.jobs.delete(jobId);
  }

  async close(): Promise<void> {
    this.jobs.clear();
    await this.server.close();
  }
}

/** The published job a stream URL names, when its token is right. */
function resolveStreamUrl(url: URL, jobs: Map<string, PublishedJob>): Resolution {
  const segments = url.pathname.split('/').filter((s) => s !== '');
  if (segments.length !== 2) return { status: 404, message: 'not a stream URL' };
  let jobId: string;
  try {
    jobId = decodeURIComponent(segments[0]);
  } catch {
    return { status: 404, message: 'not a stream URL' };
  }
  const job = jobs.get(jobId);
  const given = url.searchParams.get('token') ?? '';
  // Hashing both sides gives equal lengths, so the comparison time says nothing about the token.
  if (!job || !timingSafeEqual(digest(given), digest(job.token))) return { status: 403, message: 'wrong or missing token' };
  return { source: job.source };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
