/**
 * One ranged read on one FTP session: `REST <start>` + `RETR` (basic-ftp's downloadTo), the data
 * connection's bytes passed on through a body that yields exactly the requested length, then the
 * transfer stopped cleanly so the session can serve the next read:
 *
 * - the range reached the end of the file: the server finishes on its own (226);
 * - the range ended before it: `ABOR` is sent in band; the server closes the data connection
 *   (426, then 226 or 225) and the control connection is re-synchronised by a `PWD` whose 257 is
 *   the first reply that cannot belong to the aborted transfer (servers differ in what they send).
 *   A server that does not abort in time (vsftpd without async ABOR) gets its session closed,
 *   never reused: a late 226 read as the answer to the next command would misplace every byte
 *   after it. The data connection is never destroyed under basic-ftp: it treats a data socket
 *   error as fatal for the whole session.
 */
import { Readable, Writable } from 'node:stream';
import { FTPError, type FTPResponse } from 'basic-ftp';
import type { RangeBody } from '../sourceTransport';
import type { FtpSession } from './ftpSessionPool';

/** How long a read that ended at EOF waits for the server's own 226 before aborting instead. */
const EOF_COMPLETION_MS = 1000;
/** How long a server may take to honour ABOR before its session is closed instead. */
const ABORT_MS = 1000;
/** How long the re-synchronisation may take before the session is dropped. */
const RESYNC_MS = 3000;

/** A read in progress: its body, and the moment the first byte (or the end) arrived. */
export class FtpRangeRead {
  readonly body: FtpRangeBody;
  private readonly transfer: Promise<FTPResponse>;
  private transferOutcome?: { ok: true } | { ok: false; error: unknown };
  private firstByte!: () => void;
  private readonly firstByteArrived = new Promise<void>((resolve) => { this.firstByte = resolve; });

  /**
   * Starts reading `length` bytes (undefined: to the end of the file) of `path` from `start`;
   * `endsAtEndOfFile` when that is where the file ends (the server then finishes on its own).
   * `release` gets the session back exactly once, with whether it may be reused.
   */
  constructor(
    private readonly session: FtpSession,
    path: string,
    start: number,
    length: number | undefined,
    endsAtEndOfFile: boolean,
    private readonly release: (reusable: boolean) => void,
  ) {
    this.body = new FtpRangeBody(length, () => this.firstByte(), () => this.stop());
    this.body.endsAtEndOfFile = endsAtEndOfFile;
    this.transfer = session.client.downloadTo(this.body.sink, path, start);
    this.transfer.then(
      () => {
        this.transferOutcome = { ok: true };
        this.body.endOfData();
      },
      (error: unknown) => {
        this.transferOutcome = { ok: false, error };
        this.body.failed(error);
      },
    );
  }

  /** The transfer completed without sending a single byte (a REST at or past the end of the file). */
  get endedEmpty(): boolean {
    return this.transferOutcome?.ok === true && this.body.bytesDelivered === 0;
  }

  /**
   * Resolves once the first byte arrived or the transfer ended without error (an empty answer);
   * rejects with the server's error when the transfer failed before any byte (REST or RETR refused).
   */
  async started(): Promise<void> {
    await Promise.race([this.firstByteArrived, this.transfer.then(() => undefined)]);
  }

  private stopping?: Promise<void>;

  /** Ends the transfer (waiting or aborting) and hands the session back. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.finish().then(
      (reusable) => this.release(reusable),
      () => this.release(false),
    );
    return this.stopping;
  }

  private async finish(): Promise<boolean> {
    const settled = this.transfer.then(() => undefined, () => undefined);
    if (!this.transferOutcome && this.body.endsAtEndOfFile) await Promise.race([settled, delay(EOF_COMPLETION_MS)]);
    if (this.transferOutcome) {
      // A failure the server reported (an FTP reply) leaves the session in step; anything else does not.
      const inStep = this.transferOutcome.ok || this.transferOutcome.error instanceof FTPError;
      return inStep && !this.session.client.closed;
    }
    if (this.session.client.closed) return false;
    // Meanwhile the sink discards whatever still arrives, so the data connection keeps draining.
    this.session.client.ftp.send('ABOR');
    const ended = await Promise.race([settled.then(() => true), delay(ABORT_MS).then(() => false)]);
    if (!ended) {
      this.session.client.close();
      return false;
    }
    return resynchronise(this.session);
  }
}

/**
 * Waits for the 257 of a PWD, swallowing every reply before it (they belong to the aborted
 * transfer). False when the session should be closed instead.
 */
async function resynchronise(session: FtpSession): Promise<boolean> {
  const ftp = session.client.ftp;
  if (session.client.closed) return false;
  try {
    const synced = ftp.handle('PWD', (reply, task) => {
      if (reply instanceof FTPError) return; // 426/451/5xx of the aborted transfer
      if (reply instanceof Error) task.reject(reply);
      else if (reply.code === 257) task.resolve(reply);
    });
    const inTime = await Promise.race([synced.then(() => true), delay(RESYNC_MS).then(() => false)]);
    if (!inTime) session.client.close();
    return inTime;
  } catch {
    return false;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * The body handed to the engine: a Readable fed by `sink` (where basic-ftp pipes the data
 * connection), capped at the requested length, with backpressure to the data socket (a write is
 * acknowledged only when the reader wants more).
 */
export class FtpRangeBody extends Readable implements RangeBody {
  /** basic-ftp's destination for the data connection. */
  readonly sink: Writable;
  /** The requested range ends where the file ends. */
  endsAtEndOfFile = false;
  /** Bytes passed on to the reader so far. */
  bytesDelivered = 0;
  private remaining: number;
  private resumeSink?: () => void;

  constructor(length: number | undefined, onFirstByte: () => void, private readonly stopTransfer: () => Promise<void>) {
    super();
    this.remaining = length ?? Number.POSITIVE_INFINITY;
    this.sink = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        onFirstByte();
        if (this.destroyed || this.remaining <= 0) return done();
        const take = Math.min(chunk.length, this.remaining);
        const wantsMore = this.push(take === chunk.length ? chunk : chunk.subarray(0, take));
        this.remaining -= take;
        this.bytesDelivered += take;
        if (this.remaining <= 0) {
          this.push(null);
          void this.stopTransfer();
          done();
        } else if (wantsMore) {
          done();
        } else {
          this.resumeSink = done;
        }
      },
      // The data connection ended: what that means is decided by the control reply (endOfData/failed).
      final: (done) => done(),
    });
    this.sink.on('error', () => undefined);
    // A failure before the body is handed out must not crash the process; readers still see it.
    this.on('error', () => undefined);
  }

  /** The transfer completed (226): the body ends here, short if the data connection closed early. */
  endOfData(): void {
    if (this.remaining > 0 && !this.destroyed && !this.readableEnded) {
      this.remaining = 0;
      this.push(null);
    }
    void this.stopTransfer();
  }

  /** The transfer failed: a body still expecting bytes fails with it. */
  failed(error: unknown): void {
    if (this.remaining > 0 && !this.destroyed) this.destroy(error instanceof Error ? error : new Error(String(error)));
    void this.stopTransfer();
  }

  override _read(): void {
    const resume = this.resumeSink;
    this.resumeSink = undefined;
    resume?.();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.resumeSink?.();
    this.resumeSink = undefined;
    void this.stopTransfer();
    callback(error);
  }

  /** Done with the body: stop the transfer and wait until the session is back in the pool. */
  async dump(): Promise<void> {
    if (!this.destroyed) this.destroy();
    await this.stopTransfer();
  }
}
