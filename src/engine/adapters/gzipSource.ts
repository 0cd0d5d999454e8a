/**
 * Channel adapter for a source that only serves a gzip-compressed copy of the artifact (e.g.
 * `file.bin.gz` next to `file.bin`). Compressed offsets say nothing about plain offsets, so such a
 * source is a whole-stream source: one GET from byte 0, decoded with node:zlib as it streams, its
 * plain bytes feeding the pieces like a source without Range support. The plain bytes are hashed
 * and verified like any other source's; the adapter only guarantees the stream's shape:
 *
 * - bounded output: never more than `limit` plain bytes come out (the artifact's size), whatever
 *   the compressed bytes hold, so a decompression bomb is cut off, not buffered (X01): the stream
 *   ends at the limit and the compressed body is closed;
 * - backpressure end to end: the decoder and the socket pause while the consumer writes;
 * - destroying the decoded stream destroys the HTTP body, so the socket is closed at once.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { SourceTransport } from '../sourceTransport';
import { TransportError } from '../httpTransport';
import { PROBE_BUDGET_MS, PROBE_SAMPLE_BYTES, readAtMost, type ProbeResult } from '../sourceProbe';
import type { SourceRuntime } from '../sourceRuntime';

/** Content encodings a source may declare (`SourceSpec.encoding`). */
export type SourceEncoding = 'gzip';

/** A decoded whole-file body: a Readable with the `dump()` the fetcher calls on a finished body. */
export type DecodedBody = Readable & { dump(options?: { limit?: number }): Promise<void> };

/** What the segment fetcher needs of a response. */
export interface DecodedResponse {
  status: 200;
  totalSize: undefined;
  body: DecodedBody;
  finalUrl: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * GETs the whole compressed representation and returns its decoded bytes, at most `limit` of
 * them. Status and redirects are validated by the transport as for any source.
 */
export async function openDecodedBody(transport: SourceTransport, source: SourceRuntime, opts: { signal?: AbortSignal; limit: number }): Promise<DecodedResponse> {
  // The segment fetcher reads at most the artifact's size; the limit makes that hold for any reader.
  const response = await transport.getRange(source.effectiveUrl, 0, undefined, {
    proxy: source.spec.proxy,
    localAddress: source.spec.localAddress,
    signal: opts.signal,
    allowWhole: true,
    allowEncoding: 'gzip',
  });
  const decoded = decodeBounded(response.body, opts.limit);
  return { status: 200, totalSize: undefined, body: decoded, finalUrl: response.finalUrl, headers: response.headers };
}

/**
 * `compressed` → gunzip → at most `limit` bytes. At the limit the stream ends cleanly after the
 * last allowed byte (`overflowed` is set and the compressed body is destroyed, so nothing more is
 * downloaded or decoded); destroying the result destroys the compressed body too.
 */
export function decodeBounded(compressed: Readable, limit: number): DecodedBody & { readonly overflowed: boolean } {
  const gunzip = createGunzip();
  let passed = 0;
  let overflowed = false;
  const stop = (): void => {
    compressed.unpipe(gunzip);
    compressed.on('error', () => undefined).destroy();
    gunzip.on('error', () => undefined).destroy();
  };
  const decoded = new Readable({
    // Backpressure: the decoder (and with it the socket) waits while the consumer is busy.
    read: () => { gunzip.resume(); },
    destroy: (error, callback) => {
      stop();
      callback(error);
    },
  }) as DecodedBody & { overflowed: boolean };
  Object.defineProperty(decoded, 'overflowed', { get: () => overflowed });
  gunzip.on('data', (chunk: Buffer) => {
    if (overflowed) return;
    const room = limit - passed;
    if (chunk.length > room) {
      overflowed = true;
      passed = limit;
      if (room > 0) decoded.push(chunk.subarray(0, room));
      decoded.push(null);
      stop();
      return;
    }
    passed += chunk.length;
    if (!decoded.push(chunk)) gunzip.pause();
  });
  gunzip.on('end', () => { if (!overflowed) decoded.push(null); });
  gunzip.on('error', (error) => { if (!overflowed) decoded.destroy(error); });
  compressed.on('error', (error) => { if (!overflowed) decoded.destroy(error); });
  compressed.pipe(gunzip);
  // A decoded stream cannot be drained for keep-alive like a plain one (the rest would have to be
  // decompressed): finishing it closes it.
  decoded.dump = async () => {
    decoded.destroy();
  };
  return decoded;
}

/**
 * The probe of an encoded source: its first decoded block (for the identity check against the
 * reference's first block) and its latency. It states no plain size (gzip keeps it only modulo
 * 2^32, at the very end), so it can never be the reference: the job gives it the reference's size.
 */
export async function probeEncodedSource(transport: SourceTransport, source: SourceRuntime, signal?: AbortSignal): Promise<ProbeResult> {
  const startedAt = Date.now();
  const budget = AbortSignal.timeout(PROBE_BUDGET_MS);
  const probeSignal = signal ? AbortSignal.any([signal, budget]) : budget;
  const response = await openDecodedBody(transport, source, { signal: probeSignal, limit: PROBE_SAMPLE_BYTES });
  // At the limit the decoded stream ends cleanly: the probe reads its block and closes the body.
  let sample: Buffer;
  try {
    sample = await readAtMost(response.body, PROBE_SAMPLE_BYTES);
  } catch (error) {
    if (budget.aborted && !signal?.aborted) throw new TransportError('transient', `gzip probe took longer than ${PROBE_BUDGET_MS / 1000} s`);
    throw new TransportError('permanent', `not a valid gzip stream: ${(error as Error).message}`);
  }
  return {
    size: Number.NaN,
    acceptsRanges: false,
    latencyMs: Date.now() - startedAt,
    sample,
    finalUrl: response.finalUrl,
    headers: response.headers,
  };
}
