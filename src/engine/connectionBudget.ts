/**
 * The job-wide cap on open connections. Every request of a job (segment channels, probes,
 * identity spot checks, audits, repair) borrows one connection of its route (proxy + origin) and
 * gives it back when its body is over. A connection is one keep-alive socket: an idle one is
 * reused by the next request to the same route. At the cap, a new route's request closes the least
 * recently used idle connection of another route first; a busy one is never closed, so such a
 * request waits its turn. aria2 caps connections per server and in total, hf_transfer bounds its
 * concurrency with a semaphore; we bound what actually runs out: sockets and descriptors.
 */

/** Upper bound of the default cap: beyond this the OS, not the mirrors, becomes the limit. */
const MAX_DEFAULT_CONNECTIONS = 256;
/** Lower bound of the default cap: a small active set still probes several mirrors at once. */
const MIN_DEFAULT_CONNECTIONS = 16;
/**
 * Connections the default cap adds to the active set's channels: room for probes, identity spot
 * checks, audits and an exploring channel while every active source runs all its channels.
 */
const CHECK_HEADROOM = 8;
/** Connections kept out of reach of channels, so probes and checks do not queue behind segments. */
const MAX_CHECK_RESERVE = 6;

/**
 * The default job-wide connection cap: every channel of the active set plus 8, within [16, 256].
 * With the defaults (4 connections × 6 sources) that is 32, so a few mirrors never notice the cap
 * (4 mirrors × 4 connections = 16 channels).
 */
export function defaultConnectionCap(connectionsPerSource: number, maxActiveSources: number): number {
  const wanted = connectionsPerSource * maxActiveSources + CHECK_HEADROOM;
  return Math.max(MIN_DEFAULT_CONNECTIONS, Math.min(MAX_DEFAULT_CONNECTIONS, wanted));
}

/**
 * Channels a job may run at once under `cap`: the cap minus a reserve for probes, spot checks and
 * audits (a quarter of the cap, at least 1, at most 6), and never fewer than one channel.
 */
export function channelAllowance(cap: number): number {
  const reserve = Math.max(1, Math.min(MAX_CHECK_RESERVE, Math.floor(cap / 4)));
  return Math.max(1, cap - reserve);
}

/** A borrowed connection; `release` (idempotent) gives it back once the request is over. */
export interface ConnectionLease<C> {
  readonly connection: C;
  release(): void;
}

/** How the budget opens and closes the connections it counts (undici Clients in the transport). */
export interface ConnectionFactory<C> {
  open(route: string): C;
  /** Closes an idle connection; resolves once its socket is closed. */
  close(connection: C): Promise<void>;
}

interface Slot<C> {
  readonly route: string;
  readonly connection: C;
  busy: boolean;
  /** Tick of the budget's clock at its last use (a counter: many uses share a millisecond). */
  lastUsedAt: number;
}

interface Waiter<C> {
  readonly route: string;
  /** Wrapped: resolving with a bare promise would adopt it. */
  grant(granted: { slot: Slot<C>; ready: Promise<void> }): void;
}

/**
 * Counts connections against one job-wide limit and at most `perRoute` per route. Requests beyond
 * either wait in arrival order; one that cannot be served yet does not hold up the others.
 */
export class ConnectionBudget<C> {
  private readonly slots = new Map<string, Array<Slot<C>>>();
  private readonly waiters: Array<Waiter<C>> = [];
  private openCount = 0;
  private peakCount = 0;
  private clock = 0;

  /**
   * @param limit connections open at once for the whole job
   * @param perRoute connections open at once to one route
   */
  constructor(
    readonly limit: number,
    private readonly perRoute: number,
    private readonly factory: ConnectionFactory<C>,
  ) {}

  /** Connections open now (busy or idle) and the most open at once. */
  get open(): number {
    return this.openCount;
  }

  get peak(): number {
    return this.peakCount;
  }

  /**
   * Borrows a connection to `route`, waiting while the budget is spent. Rejects with the signal's
   * reason when it aborts first. When another route's idle connection had to be closed to make
   * room, it is closed before this resolves: the count of open sockets never exceeds the limit.
   */
  async acquire(route: string, signal?: AbortSignal): Promise<ConnectionLease<C>> {
    signal?.throwIfAborted();
    const granted = this.tryGrant(route) ?? await new Promise<{ slot: Slot<C>; ready: Promise<void> }>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(signal!.reason);
      };
      const waiter: Waiter<C> = {
        route,
        grant: (result) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(result);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
    // A failed close still leaves the evicted socket destroyed.
    await granted.ready.catch(() => undefined);
    let released = false;
    return {
      connection: granted.slot.connection,
      release: () => {
        if (released) return;
        released = true;
        granted.slot.busy = false;
        granted.slot.lastUsedAt = ++this.clock;
        this.serveWaiters();
      },
    };
  }

  /** Closes every connection (the job is over). */
  async closeAll(): Promise<void> {
    const all = [...this.slots.values()].flat();
    this.slots.clear();
    this.openCount = 0;
    await Promise.allSettled(all.map((slot) => this.factory.close(slot.connection)));
  }

  private tryGrant(route: string): { slot: Slot<C>; ready: Promise<void> } | undefined {
    const own = this.slots.get(route) ?? [];
    // Keep-alive first: an idle connection of this route carries the request.
    const idle = own.find((slot) => !slot.busy);
    if (idle) return { slot: this.take(idle), ready: Promise.resolve() };
    if (own.length >= this.perRoute) return undefined;
    let ready = Promise.resolve();
    if (this.openCount >= this.limit) {
      const victim = this.idlestElsewhere(route);
      if (!victim) return undefined;
      this.remove(victim);
      ready = this.factory.close(victim.connection);
    }
    const slot: Slot<C> = { route, connection: this.factory.open(route), busy: false, lastUsedAt: 0 };
    own.push(slot);
    this.slots.set(route, own);
    this.openCount++;
    this.peakCount = Math.max(this.peakCount, this.openCount);
    return { slot: this.take(slot), ready };
  }

  private take(slot: Slot<C>): Slot<C> {
    slot.busy = true;
    slot.lastUsedAt = ++this.clock;
    return slot;
  }

  /** The least recently used idle connection of a route other than `route`. */
  private idlestElsewhere(route: string): Slot<C> | undefined {
    let best: Slot<C> | undefined;
    for (const [other, slots] of this.slots) {
      if (other === route) continue;
      for (const slot of slots) {
        if (!slot.busy && (!best || slot.lastUsedAt < best.lastUsedAt)) best = slot;
      }
    }
    return best;
  }

  private remove(slot: Slot<C>): void {
    const own = this.slots.get(slot.route)!;
    own.splice(own.indexOf(slot), 1);
    if (own.length === 0) this.slots.delete(slot.route);
    this.openCount--;
  }

  private serveWaiters(): void {
    for (let i = 0; i < this.waiters.length; ) {
      const granted = this.tryGrant(this.waiters[i].route);
      if (!granted) {
        i++;
        continue;
      }
      const [waiter] = this.waiters.splice(i, 1);
      waiter.grant(granted);
    }
  }
}
