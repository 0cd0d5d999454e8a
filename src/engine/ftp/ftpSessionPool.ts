/**
 * Logged-in FTP sessions to one server, at most `limit` at once: FTP servers commonly cap sessions
 * per client address (and answer 421 beyond it), so channels, probes and spot checks share a small
 * bounded pool instead of each opening its own. Idle sessions are kept a while for reuse.
 */
import { Client } from 'basic-ftp';
import { TransportError } from '../httpTransport';
import type { FtpLocation } from './ftpLocation';

/** Facts a session learned about one file (asked once per session). */
export interface FtpFileFacts {
  size?: number;
  /** Why `size` is missing (SIZE refused or garbage), for the log. */
  sizeProblem?: string;
  /** MDTM as an HTTP date: a weak validator. */
  modified?: string;
}

/** One control connection, logged in and in binary mode. */
export interface FtpSession {
  readonly client: Client;
  readonly facts: Map<string, FtpFileFacts>;
}

/** An idle session is closed after this long (servers drop idle sessions after minutes anyway). */
const IDLE_MS = 15_000;

export class FtpSessionPool {
  private readonly idle: Array<{ session: FtpSession; timer: NodeJS.Timeout }> = [];
  private readonly waiters: Array<() => void> = [];
  private inUse = 0;
  private closed = false;
  /** Learned from the first probe: false when the server refuses REST (no ranged reads). */
  restSupported?: boolean;

  constructor(
    private readonly location: FtpLocation,
    private readonly limit: number,
    private readonly login: (location: FtpLocation) => Promise<Client>,
  ) {}

  /** A session for exclusive use until `release`; waits while `limit` sessions are busy. */
  async acquire(signal?: AbortSignal): Promise<FtpSession> {
    while (this.inUse >= this.limit && !this.closed) {
      await waitTurn(this.waiters, signal);
    }
    if (this.closed) throw new TransportError('aborted', 'transport closed');
    this.inUse++;
    try {
      while (this.idle.length > 0) {
        const { session, timer } = this.idle.pop()!;
        clearTimeout(timer);
        if (!session.client.closed) return session;
      }
      const client = await abortable(this.login(this.location), signal, (late) => late.close());
      return { client, facts: new Map() };
    } catch (error) {
      this.inUse--;
      this.waiters.shift()?.();
      throw error;
    }
  }

  /** Returns a session; one in an unknown state (`reusable` false) is closed instead. */
  release(session: FtpSession, reusable: boolean): void {
    this.inUse--;
    if (reusable && !this.closed && !session.client.closed) {
      const entry = { session, timer: setTimeout(() => this.expire(entry), IDLE_MS) };
      entry.timer.unref();
      this.idle.push(entry);
    } else {
      session.client.close();
    }
    this.waiters.shift()?.();
  }

  /** Closes idle sessions now and busy ones as they come back. */
  close(): void {
    this.closed = true;
    for (const { session, timer } of this.idle.splice(0)) {
      clearTimeout(timer);
      session.client.close();
    }
    for (const wake of this.waiters.splice(0)) wake();
  }

  private expire(entry: { session: FtpSession; timer: NodeJS.Timeout }): void {
    const index = this.idle.indexOf(entry);
    if (index >= 0) this.idle.splice(index, 1);
    entry.session.client.close();
  }
}

/** Waits until a slot is handed over, or rejects when `signal` aborts. */
function waitTurn(waiters: Array<() => void>, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new TransportError('aborted', 'aborted'));
    const onAbort = (): void => {
      const index = waiters.indexOf(wake);
      if (index >= 0) waiters.splice(index, 1);
      reject(new TransportError('aborted', 'aborted'));
    };
    const wake = (): void => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    waiters.push(wake);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `work`, or a rejection when `signal` aborts first; a result that arrives late is disposed of. */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined, dispose: (late: T) => void): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    let aborted = false;
    const onAbort = (): void => {
      aborted = true;
      reject(new TransportError('aborted', 'aborted'));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (aborted) dispose(value);
        else resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        if (!aborted) reject(error);
      },
    );
  });
}
