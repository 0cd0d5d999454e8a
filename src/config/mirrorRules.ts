import { isIP } from 'node:net';
import type { SourceSpec } from '../engine/jobOptions';
import { credentialWarning, findMirrorSettingCredentials, stripMirrorSettingCredentials } from './settingsCredentials';

/** One mirror prefix of a rule, with how much to prefer it. */
export interface MirrorEntry {
  /** http(s) URL prefix holding the same files as the rule's prefix. */
  url: string;
  priority?: number;
  cost?: number;
  location?: string;
  /** HTTP(S) proxy to reach this mirror through (a route). */
  proxy?: string;
  /** Local IP address to connect from (a route over a chosen interface or uplink). */
  localAddress?: string;
  /** 'gzip': the mirror holds `<path>.gz`, a gzip-compressed copy, instead of the plain file. */
  encoding?: 'gzip';
}

/** `artifactFetch.mirrors` item: every URL under `prefix` is also found under each mirror prefix. */
export interface MirrorRule {
  prefix: string;
  mirrors: MirrorEntry[];
}

/** Valid rules plus a human line per entry that was skipped. */
export interface ParsedMirrorRules {
  rules: MirrorRule[];
  problems: string[];
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const protocol = new URL(value).protocol;
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

/** A mirror may also be an FTP(S) server holding the same files. */
function isMirrorUrl(value: unknown): value is string {
  if (isHttpUrl(value)) return true;
  try {
    return typeof value === 'string' && /^ftps?:$/.test(new URL(value).protocol);
  } catch {
    return false;
  }
}

function optionalNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function parseMirrorEntry(raw: unknown, where: string, problems: string[]): MirrorEntry | undefined {
  if (typeof raw === 'string') raw = { url: raw };
  if (typeof raw !== 'object' || raw === null) {
    problems.push(`${where}: expected a URL or an object with "url"`);
    return undefined;
  }
  const entry = raw as Record<string, unknown>;
  if (!isMirrorUrl(entry.url)) {
    problems.push(`${where}: "url" must be an http(s) or ftp(s) URL`);
    return undefined;
  }
  if (!isHttpUrl(entry.url) && (entry.proxy !== undefined || entry.encoding !== undefined)) {
    problems.push(`${where}: an FTP mirror takes no "proxy" and no "encoding"; mirror skipped`);
    return undefined;
  }
  if (entry.proxy !== undefined && !isHttpUrl(entry.proxy)) {
    problems.push(`${where}: "proxy" must be an http(s) URL; mirror skipped`);
    return undefined;
  }
  if (entry.localAddress !== undefined && (typeof entry.localAddress !== 'string' || isIP(entry.localAddress) === 0)) {
    problems.push(`${where}: "localAddress" must be an IP address; mirror skipped`);
    return undefined;
  }
  if (entry.encoding !== undefined && entry.encoding !== 'gzip') {
    problems.push(`${where}: "encoding" must be "gzip"; mirror skipped`);
    return undefined;
  }
  const mirror: MirrorEntry = { url: entry.url };
  const priority = optionalNumber(entry.priority);
  const cost = optionalNumber(entry.cost);
  if (priority !== undefined) mirror.priority = priority;
  if (cost !== undefined) mirror.cost = cost;
  if (typeof entry.location === 'string' && entry.location) mirror.location = entry.location.toLowerCase();
  if (typeof entry.proxy === 'string') mirror.proxy = entry.proxy;
  if (typeof entry.localAddress === 'string') mirror.localAddress = entry.localAddress;
  if (entry.encoding === 'gzip') mirror.encoding = 'gzip';
  return mirror;
}

/**
 * Validates the `artifactFetch.mirrors` setting. Bad entries are skipped with a problem line
 * (settings are user input: one typo must not disable every rule). A credential in a URL is
 * flagged and stripped: a token in settings.json is never used (see settingsCredentials.ts).
 */
export function parseMirrorRules(raw: unknown): ParsedMirrorRules {
  const problems: string[] = findMirrorSettingCredentials(raw).map(credentialWarning);
  const rules: MirrorRule[] = [];
  raw = stripMirrorSettingCredentials(raw);
  if (raw === undefined || raw === null) return { rules, problems };
  if (!Array.isArray(raw)) return { rules, problems: ['artifactFetch.mirrors must be an array of rules'] };
  raw.forEach((item: unknown, index) => {
    const where = `artifactFetch.mirrors[${index}]`;
    const rule = item as Record<string, unknown> | null;
    if (typeof rule !== 'object' || rule === null || !isHttpUrl(rule.prefix)) {
      problems.push(`${where}: "prefix" must be an http(s) URL prefix`);
      return;
    }
    if (!Array.isArray(rule.mirrors)) {
      problems.push(`${where}: "mirrors" must be an array`);
      return;
    }
    const mirrors = rule.mirrors
      .map((entry: unknown, mirrorIndex: number) => parseMirrorEntry(entry, `${where}.mirrors[${mirrorIndex}]`, problems))
      .filter((entry): entry is MirrorEntry => entry !== undefined);
    rules.push({ prefix: rule.prefix, mirrors });
  });
  return { rules, problems };
}

/** `mirrorPrefix` + the part of `url` after `prefix`, joined with exactly one slash. */
function mapOntoMirror(url: string, prefix: string, mirrorPrefix: string): string {
  const rest = url.slice(prefix.length);
  if (mirrorPrefix.endsWith('/') && rest.startsWith('/')) return mirrorPrefix + rest.slice(1);
  if (!mirrorPrefix.endsWith('/') && !rest.startsWith('/') && prefix.endsWith('/')) return `${mirrorPrefix}/${rest}`;
  return mirrorPrefix + rest;
}

/**
 * The sources for one URL: the URL itself first (the primary), then every mirror of every rule
 * whose prefix it starts with, without duplicates (same URL and same route).
 */
export function sourcesForUrl(primaryUrl: string, rules: readonly MirrorRule[]): SourceSpec[] {
  const sources: SourceSpec[] = [{ url: primaryUrl, origin: 'user' }];
  const seen = new Set([`${primaryUrl}  `]);
  for (const rule of rules) {
    if (!primaryUrl.startsWith(rule.prefix)) continue;
    for (const mirror of rule.mirrors) {
      const mapped = mapOntoMirror(primaryUrl, rule.prefix, mirror.url);
      // A gzip mirror holds the compressed copy next to where the plain file would be.
      const url = mirror.encoding === 'gzip' ? `${mapped}.gz` : mapped;
      if (!isMirrorUrl(url)) continue;
      const key = `${url} ${mirror.proxy ?? ''} ${mirror.localAddress ?? ''}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const source: SourceSpec = { url, origin: 'settings' };
      if (mirror.priority !== undefined) source.priority = mirror.priority;
      if (mirror.cost !== undefined) source.cost = mirror.cost;
      if (mirror.location !== undefined) source.location = mirror.location;
      if (mirror.proxy !== undefined) source.proxy = mirror.proxy;
      if (mirror.localAddress !== undefined) source.localAddress = mirror.localAddress;
      if (mirror.encoding !== undefined) source.encoding = mirror.encoding;
      sources.push(source);
    }
  }
  return sources;
}

/** Every host (`host:port` as in URL.host) a set of rules names, prefixes and mirrors alike. */
export function hostsOfRules(rules: readonly MirrorRule[]): Set<string> {
  const hosts = new Set<string>();
  for (const rule of rules) {
    hosts.add(new URL(rule.prefix).host.toLowerCase());
    for (const mirror of rule.mirrors) hosts.add(new URL(mirror.url).host.toLowerCase());
  }
  return hosts;
}
