/**
 * An external ranking service: a command or a URL that scores the job's sources. It gets
 * `{"sources":[{"url":…,"route":…}]}` (URLs without credentials or query, as everywhere we show
 * them) on stdin or as a POST body, and answers JSON `{"scores":{"<url>":0.9,…}}` (or the bare
 * map), one score in 0..1 per URL. Its answer is one more weighted ranking input.
 *
 * The service is advice, never a dependency: it runs once per job with a timeout and a bounded
 * answer, its answer is reused across jobs for a TTL, and any failure only skips the input (the
 * caller logs the reason).
 */
import { spawn } from 'node:child_process';
import { requestOnce } from '../undiciParts';

/** Where the scores come from, and how long to wait for and keep them. */
export interface ExternalRankingOptions {
  /** A shell command line; the request is written to its stdin, the answer read from stdout. */
  command?: string;
  /** An http(s) URL that answers a POST of the request with the scores. */
  url?: string;
  /** Give up after this long (default 3000 ms). */
  timeoutMs?: number;
  /** Reuse an answer for the same sources for this long, also across jobs (default 10 min). */
  cacheTtlMs?: number;
}

/** A source as the service sees it. */
export interface RankedSource {
  url: string;
  route?: string;
}

/** The service's answer, or why there is none. */
export type ExternalRankingAnswer =
  | { ok: true; scores: Map<string, number>; from: string; cached: boolean }
  | { ok: false; reason: string; from: string };

export const DEFAULT_RANKING_TIMEOUT_MS = 3000;
export const DEFAULT_RANKING_TTL_MS = 10 * 60 * 1000;
/** A ranking answer is a small JSON object; anything larger is not one. */
const MAX_ANSWER_BYTES = 1024 * 1024;

const cache = new Map<string, { scores: Map<string, number>; expiresAt: number }>();

/** Forgets every cached answer (tests; a settings change). */
export function clearExternalRankingCache(): void {
  cache.clear();
}

/** Asks the configured service for scores; never rejects. */
export async function fetchExternalScores(options: ExternalRankingOptions, sources: readonly RankedSource[], signal?: AbortSignal): Promise<ExternalRankingAnswer> {
  const from = options.command ? `command "${options.command.slice(0, 60)}"` : `URL ${options.url ?? ''}`;
  if (!options.command && !options.url) return { ok: false, reason: 'no command or URL configured', from };
  const key = JSON.stringify([options.command ?? '', options.url ?? '', sources]);
  const now = Date.now();
  const hit = cache.get(key);
  if (hit && hit.expiresAt > now) return { ok: true, scores: hit.scores, from, cached: true };
  const timeoutMs = options.timeoutMs ?? DEFAULT_RANKING_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const body = JSON.stringify({ sources });
  try {
    const text = options.command ? await runCommand(options.command, body, combined) : await postJson(options.url!, body, combined);
    const scores = parseScores(text);
    cache.set(key, { scores, expiresAt: now + (options.cacheTtlMs ?? DEFAULT_RANKING_TTL_MS) });
    return { ok: true, scores, from, cached: false };
  } catch (error) {
    const reason = timeout.aborted ? `no answer within ${timeoutMs} ms` : (error as Error).message;
    return { ok: false, reason, from };
  }
}

/**
 * `{"scores":{url:n}}` or `{url:n}` → url → score clamped to 0..1. Entries that are not numbers
 * are skipped; an answer that is not such an object is an error.
 */
export function parseScores(text: string): Map<string, number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error('the answer is not JSON');
  }
  const record = isRecord(parsed) && isRecord(parsed.scores) ? parsed.scores : parsed;
  if (!isRecord(record)) throw new Error('the answer is not a JSON object of scores');
  const scores = new Map<string, number>();
  for (const [url, value] of Object.entries(record)) {
    if (typeof value === 'number' && Number.isFinite(value)) scores.set(url, Math.min(1, Math.max(0, value)));
  }
  return scores;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Runs `command` in a shell, feeds `input`, returns stdout; fails on a non-zero exit or abort. */
function runCommand(command: string, input: string, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    // Its own process group, killed whole with SIGKILL on timeout: a service that ignores the
    // timeout (or the shell's children) must not outlive it.
    const child = spawn(command, { shell: true, stdio: ['pipe', 'pipe', 'pipe'], detached: process.platform !== 'win32' });
    const killAll = (): void => {
      try {
        if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // already gone
      }
    };
    if (signal.aborted) killAll();
    signal.addEventListener('abort', killAll, { once: true });
    const out: Buffer[] = [];
    let outBytes = 0;
    let errText = '';
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > MAX_ANSWER_BYTES) killAll();
      else out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => { if (errText.length < 400) errText += chunk.toString('utf8'); });
    child.on('error', (error) => reject(signal.aborted ? new Error('aborted') : error));
    child.on('close', (code, killedBy) => {
      signal.removeEventListener('abort', killAll);
      if (outBytes > MAX_ANSWER_BYTES) reject(new Error(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`));
      else if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`the command exited with ${code ?? killedBy}${errText ? `: ${errText.trim().slice(0, 200)}` : ''}`));
    });
    child.stdin.on('error', () => undefined); // a command that does not read its input is fine
    child.stdin.end(input);
  });
}

async function postJson(url: string, body: string, signal: AbortSignal): Promise<string> {
  const protocol = new URL(url).protocol;
  if (protocol !== 'http:' && protocol !== 'https:') throw new Error(`unsupported URL scheme ${protocol}`);
  // undici's request() follows no redirects: a 3xx is an error like any other non-200.
  const response = await requestOnce(url, { method: 'POST', body, headers: { 'content-type': 'application/json', accept: 'application/json' }, signal });
  if (response.statusCode !== 200) {
    response.body.on('error', () => undefined);
    response.body.destroy();
    throw new Error(`HTTP ${response.statusCode}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_ANSWER_BYTES) {
      response.body.destroy();
      throw new Error(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
