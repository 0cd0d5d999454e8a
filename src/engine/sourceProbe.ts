/**
 * First contact with a source: one small ranged GET gives the size, validators, Range support,
 * latency and a sample block in a single round trip (hf_transfer probes with `bytes=0-0`; we take
 * a whole sample so the identity check needs no second request to the primary).
 */
import type { RangeBody, SourceTransport } from './sourceTransport';
import { discardBody, finishBody, TransportError } from './httpTransport';
import type { SourceRuntime } from './sourceRuntime';

export interface ProbeResult {
  size: number;
  /** Strong ETag, when the source gave one. */
  strongEtag?: string;
  lastModified?: string;
  acceptsRanges: boolean;
  latencyMs: number;
  /** The first bytes of the file (up to the requested sample length). */
  sample: Buffer;
  finalUrl: string;
  headers: Record<string, string | string[] | undefined>;
  /** The source answered 416 with a stated size: it can confirm a complete local copy, no more. */
  unsatisfiable?: boolean;
  /**
   * With `leadBytes`: the rest of the probe's response, still open. The job may adopt it as the
   * first segment [0, end) of a channel (see downloadJob's becomeReference); otherwise it must be
   * discarded.
   */
  lead?: ProbeLead;
}

/** An open probe response that carries real work: bytes [0, end), of which `received` arrived. */
export interface ProbeLead {
  body: RangeBody;
  /** Every byte read so far, from byte 0 (the sample and what came with it). */
  received: Buffer[];
  /** Exclusive end of the range the source is sending. */
  end: number;
}

/** Bytes fetched by a probe: enough to compare copies, small enough to cost one round trip. */
export const PROBE_SAMPLE_BYTES = 64 * 1024;

/** A probe must deliver its headers and sample within this time, or it counts as failed (slow). */
export const PROBE_BUDGET_MS = 8000;

/**
 * Probes `source`. `sizeWhenUnstated` gives the size to use when the source's own statement is
 * unusable (an FTP `213 abc`): the trusted size or the reference's, never a guess from the source;
 * undefined while none is known yet (the probe fails transiently and is retried), null when none
 * will ever be known (it fails for good).
 */
export async function probeSource(
  transport: SourceTransport,
  source: SourceRuntime,
  signal?: AbortSignal,
  sizeWhenUnstated?: () => number | null | undefined,
  leadBytes?: number,
): Promise<ProbeResult> {
  const startedAt = Date.now();
  // A trickling source must not hold up the job: the probe (headers and sample) has a time budget.
  // It is disarmed once the sample is in, so a lead body can go on as a segment.
  const probeAbort = new AbortController();
  const budget = { aborted: false };
  const budgetTimer = setTimeout(() => {
    budget.aborted = true;
    probeAbort.abort();
  }, PROBE_BUDGET_MS);
  const onJobAbort = (): void => probeAbort.abort();
  if (signal?.aborted) probeAbort.abort();
  else signal?.addEventListener('abort', onJobAbort, { once: true });
  const probeSignal = probeAbort.signal;
  try {
    return await probeWithin(transport, source, probeSignal, budget, signal, startedAt, sizeWhenUnstated, leadBytes);
  } finally {
    clearTimeout(budgetTimer);
    signal?.removeEventListener('abort', onJobAbort);
  }
}

async function probeWithin(
  transport: SourceTransport,
  source: SourceRuntime,
  probeSignal: AbortSignal,
  budget: { aborted: boolean },
  signal: AbortSignal | undefined,
  startedAt: number,
  sizeWhenUnstated?: () => number | null | undefined,
  leadBytes?: number,
): Promise<ProbeResult> {
  const askedBytes = Math.max(PROBE_SAMPLE_BYTES, leadBytes ?? 0);
  let response;
  try {
    response = await transport.getRange(source.effectiveUrl, 0, askedBytes - 1, {
      proxy: source.spec.proxy,
      localAddress: source.spec.localAddress,
      signal: probeSignal,
      allowWhole: true,
    });
  } catch (error) {
    if (error instanceof TransportError && error.status === 416 && error.unsatisfiedTotal !== undefined) {
      // "bytes */N": nothing to send from where we asked, but the size is stated. The journal
      // decides whether anything is missing (a complete local copy needs no body at all).
      const etag = firstHeader(error.headers?.etag);
      return {
        size: error.unsatisfiedTotal,
        strongEtag: etag && !etag.startsWith('W/') ? etag : undefined,
        lastModified: firstHeader(error.headers?.['last-modified']),
        acceptsRanges: true,
        latencyMs: Date.now() - startedAt,
        sample: Buffer.alloc(0),
        finalUrl: source.effectiveUrl,
        headers: error.headers ?? {},
        unsatisfiable: true,
      };
    }
    if (budget.aborted && !signal?.aborted) throw new TransportError('transient', `probe took longer than ${PROBE_BUDGET_MS / 1000} s`);
    throw error;
  }
  const latencyMs = Date.now() - startedAt;
  const acceptsRanges = response.status === 206;
  let size = response.totalSize;
  if (size === undefined && response.unstatedSizeReason) {
    const fallback = sizeWhenUnstated?.();
    if (fallback === undefined || fallback === null) {
      discardBody(response.body);
      // Transient while another source may still fix the size for the retry to use.
      if (fallback === undefined) throw new TransportError('transient', `${response.unstatedSizeReason}, and no trusted or reference size is known yet`);
      throw new TransportError('permanent', `${response.unstatedSizeReason}, and neither a manifest nor another source states the size`);
    }
    size = fallback;
  }
  if (size === undefined || !Number.isSafeInteger(size) || size < 0) {
    discardBody(response.body);
    throw new TransportError('permanent', 'the source does not state the file size (no Content-Range total or Content-Length)');
  }
  const sampleBytes = Math.min(PROBE_SAMPLE_BYTES, size);
  // A lead is kept open only when the source sends more than the sample, as the range asked.
  const leadEnd = acceptsRanges && leadBytes && response.totalSize !== undefined ? Math.min(askedBytes, response.totalSize) : 0;
  let sample: Buffer;
  let lead: ProbeLead | undefined;
  try {
    if (leadEnd > sampleBytes) {
      const received = await readPrefix(response.body, sampleBytes);
      const joined = Buffer.concat(received);
      sample = joined.subarray(0, sampleBytes);
      if (joined.length >= sampleBytes) {
        // Paused until adopted or discarded; a socket error meanwhile must not go unhandled.
        response.body.on('error', () => undefined);
        lead = { body: response.body, received, end: leadEnd };
      }
    } else {
      sample = await readAtMost(response.body, sampleBytes);
    }
  } catch (error) {
    if (budget.aborted && !signal?.aborted) throw new TransportError('transient', `probe sample took longer than ${PROBE_BUDGET_MS / 1000} s (a very slow source)`);
    throw new TransportError('transient', `probe sample failed: ${(error as Error).message}`);
  }
  if (sample.length < Math.min(PROBE_SAMPLE_BYTES, size)) {
    if (budget.aborted && !signal?.aborted) throw new TransportError('transient', `probe sample took longer than ${PROBE_BUDGET_MS / 1000} s (a very slow source)`);
  }
  const etag = firstHeader(response.headers.etag);
  return {
    size,
    strongEtag: etag && !etag.startsWith('W/') ? etag : undefined,
    lastModified: firstHeader(response.headers['last-modified']),
    acceptsRanges,
    latencyMs,
    sample,
    finalUrl: response.finalUrl,
    headers: response.headers,
    lead,
  };
}

/**
 * Reads chunks until at least `limit` bytes are in (or the body ends), then pauses the body and
 * leaves it open: the caller gets every chunk read, which may reach past `limit`.
 */
function readPrefix(body: RangeBody, limit: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = (error?: unknown): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', done);
      if (error) reject(error);
      else resolve(chunks);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= limit) {
        body.pause();
        done();
      }
    };
    const onEnd = (): void => done();
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', done);
  });
}

/** Fetches exactly `length` bytes at `start` from a source (identity spot checks). */
export async function fetchBlock(
  transport: SourceTransport,
  source: SourceRuntime,
  start: number,
  length: number,
  expectedTotal: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  const response = await transport.getRange(source.effectiveUrl, start, start + length - 1, { proxy: source.spec.proxy, localAddress: source.spec.localAddress, signal, expectedTotal });
  const block = await readAtMost(response.body, length);
  if (block.length !== length) throw new TransportError('transient', `short sample: ${block.length} of ${length} bytes`);
  return block;
}

/** Reads a body up to `limit` bytes, then destroys it (never buffers more than asked). */
export async function readAtMost(
  body: AsyncIterable<Buffer> & { destroy(): void; dump(options?: { limit?: number }): Promise<void>; on(event: 'error', listener: () => void): unknown },
  limit: number,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  body.on('error', () => undefined);
  const iterator = body[Symbol.asyncIterator]();
  try {
    // Read by hand (not for-await, whose early exit destroys the body and its socket).
    while (total < limit) {
      const { value, done } = await iterator.next();
      if (done) break;
      const chunk = value as Buffer;
      const take = Math.min(chunk.length, limit - total);
      chunks.push(take === chunk.length ? chunk : chunk.subarray(0, take));
      total += take;
    }
  } catch (error) {
    body.destroy();
    throw error;
  }
  // Normally the body ends right here (exact ranges): drain it so the socket is reused.
  await finishBody(body);
  return Buffer.concat(chunks, total);
}

export function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
