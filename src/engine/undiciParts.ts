/**
 * The parts of undici the hot path uses — its HTTP/1.1 client, pool, proxy agent, connector and
 * request API — loaded from their own modules. undici's index also loads fetch, WebSocket, EventSource,
 * the cache, the mock agents and the cookie parser (which pulls Node's own bundled undici in for
 * the web globals): about 40 ms of start-up, paid by every CLI run before its first request, for
 * nothing a download uses. Nothing else imports 'undici' at run time either: even a lazy import
 * puts the index in every bundle, and V8 compiles a bundle's whole text at load (about 230 KB,
 * ~12 ms of every CLI start). One-off requests (a manifest, a ranking service) use requestOnce.
 *
 * These module paths are undici 7's internal layout, not its public API: the lockfile pins the
 * version, and test/engine/undiciParts.test.ts fails if an update moves or changes them.
 */
import type { buildConnector as buildConnectorType, Client as ClientType, Dispatcher, Pool as PoolType, ProxyAgent as ProxyAgentType } from 'undici';

/* eslint-disable @typescript-eslint/no-require-imports -- deep modules have no typings of their own */
export const Client = require('undici/lib/dispatcher/client.js') as typeof ClientType;
export const Pool = require('undici/lib/dispatcher/pool.js') as typeof PoolType;
export const ProxyAgent = require('undici/lib/dispatcher/proxy-agent.js') as typeof ProxyAgentType;
export const buildConnector = require('undici/lib/core/connect.js') as typeof buildConnectorType;
const dispatcherRequest = require('undici/lib/api/api-request.js') as (
  this: Dispatcher,
  options: Dispatcher.RequestOptions,
) => Promise<Dispatcher.ResponseData>;
/* eslint-enable @typescript-eslint/no-require-imports */

/** Options of one request on a given connection (undici's RequestOptions minus origin and path). */
export type RequestOnOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path'>;

/**
 * `undici.request(url, { dispatcher })` without undici's index: one request on `dispatcher`, whose
 * body is a Readable limited to what the server sends.
 */
export function requestOn(dispatcher: Dispatcher, url: string, options: RequestOnOptions): Promise<Dispatcher.ResponseData> {
  const parsed = new URL(url);
  return dispatcherRequest.call(dispatcher, { ...options, origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` } as Dispatcher.RequestOptions);
}

/**
 * One request on a connection of its own, for rare one-off requests (a manifest, a ranking
 * service) that need no pool: the connection closes once the response body is done (read to the
 * end or destroyed), or at once when the request fails.
 */
export async function requestOnce(url: string, options: RequestOnOptions): Promise<Dispatcher.ResponseData> {
  const client = new Client(new URL(url).origin);
  try {
    const response = await requestOn(client, url, options);
    response.body.once('close', () => void client.close().catch(() => undefined));
    return response;
  } catch (error) {
    void client.destroy().catch(() => undefined);
    throw error;
  }
}
