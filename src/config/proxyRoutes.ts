import type { SourceSpec } from '../engine/jobOptions';

/** VS Code's `http.proxy`, `http.proxyStrictSSL` and `http.noProxy`, with the environment as fallback. */
export interface ProxySettings {
  /** Proxy for every source without its own route; undefined = direct. */
  proxy?: string;
  /** false asks to skip TLS checks; the engine never does, so this only earns a warning. */
  strictSSL: boolean;
  /** Hosts reached directly: `example.com` (and its subdomains), `.example.com`, `*.example.com`, `host:port`, `*`. */
  noProxy: string[];
}

const loopbackHosts = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** Reads the proxy settings; `http.proxy` wins, then HTTPS_PROXY/HTTP_PROXY, as VS Code itself does. */
export function proxySettingsFrom(values: { proxy?: unknown; strictSSL?: unknown; noProxy?: unknown }, env: NodeJS.ProcessEnv = process.env): ProxySettings {
  const configured = typeof values.proxy === 'string' && values.proxy.trim() ? values.proxy.trim() : undefined;
  const fromEnv = env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy || undefined;
  const noProxy = Array.isArray(values.noProxy) ? values.noProxy.filter((entry): entry is string => typeof entry === 'string') : [];
  const envNoProxy = (env.NO_PROXY || env.no_proxy || '').split(',').map((entry) => entry.trim()).filter(Boolean);
  return {
    proxy: configured ?? fromEnv,
    strictSSL: values.strictSSL !== false,
    noProxy: [...noProxy, ...envNoProxy],
  };
}

/** True when `url` must be fetched directly: loopback, or listed in `noProxy`. */
export function bypassesProxy(url: string, noProxy: readonly string[]): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return true;
  }
  const hostname = parsed.hostname.toLowerCase();
  if (loopbackHosts.has(hostname) || hostname.startsWith('127.')) return true;
  const host = parsed.host.toLowerCase();
  return noProxy.some((rawPattern) => {
    const pattern = rawPattern.trim().toLowerCase();
    if (!pattern) return false;
    if (pattern === '*') return true;
    if (pattern.includes(':') && !pattern.startsWith('[')) return host === pattern.replace(/^\*?\./, '') || host.endsWith(pattern.replace(/^\*/, ''));
    const domain = pattern.replace(/^\*?\./, '');
    return hostname === domain || hostname.endsWith(`.${domain}`);
  });
}

/** Gives every source without its own route the global proxy, unless its host bypasses it. */
export function withProxyRoutes(sources: readonly SourceSpec[], settings: ProxySettings): SourceSpec[] {
  const proxy = settings.proxy;
  if (!proxy) return [...sources];
  return sources.map((source) => (source.proxy || bypassesProxy(source.url, settings.noProxy) ? source : { ...source, proxy }));
}
