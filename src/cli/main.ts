#!/usr/bin/env node
/**
 * `artifact-fetch`: the engine from a terminal. `get` downloads one artifact from many sources,
 * `manifest` writes a Merkle manifest for a local file, `verify` checks a local file.
 * Exit codes come from one taxonomy (see errors.ts and the README); stdout carries only `--json`.
 */
// First: its V8 flag must be set before anything compiles WebAssembly.
import './processFlags';
import { Command, CommanderError } from 'commander';
import * as path from 'node:path';
import { DownloadJob } from '../engine/downloadJob';
import { ErrorCode, FetchError, exitCodeFor, toFetchError } from '../engine/errors';
import type { ExpectedIdentity, JobOptions, SourceSpec } from '../engine/jobOptions';
import { createManifest, parseManifest, serializeManifest } from '../engine/integrity/manifest';
import { expectationFromManifest, loadTrustedManifest } from '../engine/integrity/manifestLoader';
import { verifyFile } from '../engine/integrity/fileVerifier';
import { redactText } from '../engine/security/redaction';
import { parseBindRoute, parseByteCount, parseSourceArgument, parseHex256, parseHttpUrl, parseLocation, parsePositiveInt, parseProxyRoute, parseShare } from './argumentParsers';
import { registerServeCommand } from './serveCommand';
import { streamJobTo } from './streamToOutput';
import { promises as fs } from 'node:fs';

interface GetFlags {
  output: string;
  sha256?: string;
  manifest?: string;
  root?: string;
  pieceSize?: string;
  connections?: string;
  maxSources?: string;
  maxConnections?: string;
  limitRate?: string;
  minSpeed?: string;
  proxyRoute: string[];
  bindRoute: string[];
  rankingCommand?: string;
  rankingUrl?: string;
  maxExpensiveShare?: string;
  location?: string;
  json?: boolean;
  overwrite?: boolean;
  stateDir?: string;
  linkMirrors: boolean;
  deadline?: string;
  quiet?: boolean;
  streamTo?: string;
}

function buildProgram(): Command {
  const program = new Command('artifact-fetch')
    .description('Fetch one large artifact from many sources at once and prove every byte.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  program
    .command('get')
    .description('download one artifact; every URL is a source of the same bytes, the first is the primary')
    .argument('<urls...>', 'source URLs (http, https, ftp or ftps; gzip+<url> for a gzip-compressed copy), or one local .meta4/.metalink file')
    .requiredOption('-o, --output <path>', 'where the verified file lands')
    .option('--sha256 <hex>', 'expected whole-file SHA-256')
    .option('--manifest <path|url>', 'Merkle manifest (artifact-fetch/manifest@1): every piece is checked as it arrives')
    .option('--root <hex>', 'expected RFC 6962 Merkle root (with --piece-size)')
    .option('--piece-size <bytes>', 'piece size (power of two, >= 16K); default: chosen from the size')
    .option('--connections <n>', 'connections per source (default 4)')
    .option('--max-sources <n>', 'sources used at once; the rest stand by (default 6)')
    .option('--max-connections <n>', 'connections open at once for the whole job: channels, probes and checks (default: connections × max-sources + 8, within 16-256)')
    .option('--limit-rate <bytes/s>', 'global speed limit, e.g. 20M')
    .option('--min-speed <bytes/s>', 'drop a source slower than this after a grace window (default 16K)')
    .option('--proxy-route <url=proxy>', 'reach <url> through an HTTP proxy (repeatable); the same URL over another route is another source', collect, [])
    .option('--bind-route <url=address>', 'reach <url> from this local IP address (repeatable); another route, so another source', collect, [])
    .option('--location <cc>', 'your two-letter country code: sources (or Metalink locations) there rank higher')
    .option('--max-expensive-share <0..1>', 'at most this share of the bytes from sources with a cost > 0 while a free one works')
    .option('--ranking-command <cmd>', 'shell command scoring sources: JSON {"sources":[{url}]} on stdin, {"scores":{url:0..1}} on stdout')
    .option('--ranking-url <url>', 'URL scoring sources: answers a POST of {"sources":[...]} with {"scores":{url:0..1}}')
    .option('--state-dir <path>', 'folder for .part, journal and lock (default: .artifact-fetch next to the output)')
    .option('--overwrite', 'replace an existing file at --output')
    .option('--no-link-mirrors', "ignore mirrors from the primary's Link: rel=duplicate headers")
    .option('--deadline <seconds>', 'give up after this many seconds')
    .option('--json', 'print one JSON result object on stdout')
    .option('-q, --quiet', 'no progress display')
    .option('--stream-to <path|->', 'also write the verified bytes in order while downloading ("-" = stdout; notes stay on stderr)')
    .action(async (urls: string[], flags: GetFlags) => {
      process.exitCode = await runGet(urls, flags);
    });

  registerServeCommand(program);

  program
    .command('manifest')
    .description('write a Merkle manifest for a local file')
    .argument('<file>')
    .option('-o, --output <path>', 'where to write it (default: <file>.manifest.json)')
    .option('--piece-size <bytes>', 'piece size (power of two, >= 16K); default: chosen from the size')
    .action(async (file: string, flags: { output?: string; pieceSize?: string }) => {
      const pieceSize = flags.pieceSize ? parseByteCount('--piece-size', flags.pieceSize) : undefined;
      const manifest = await createManifest(file, pieceSize);
      const output = flags.output ?? `${file}.manifest.json`;
      await fs.writeFile(output, serializeManifest(manifest), { flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'EEXIST') throw new FetchError(ErrorCode.TargetExists, `${output} already exists`);
        throw toFetchError(error, ErrorCode.Disk);
      });
      process.stderr.write(`wrote ${output}: ${manifest.size} bytes, ${manifest.pieceSize}-byte pieces, root ${manifest.root}\n`);
    });

  program
    .command('verify')
    .description('check a local file against a manifest, a Merkle root or a SHA-256')
    .argument('<file>')
    .option('--manifest <path>', 'manifest file')
    .option('--root <hex>', 'Merkle root (with --piece-size)')
    .option('--piece-size <bytes>', 'piece size the root was built with')
    .option('--sha256 <hex>', 'whole-file SHA-256')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, flags: { manifest?: string; root?: string; pieceSize?: string; sha256?: string; json?: boolean }) => {
      if (!flags.manifest && !flags.root && !flags.sha256) {
        throw new FetchError(ErrorCode.BadArguments, 'verify needs --manifest, --root with --piece-size, or --sha256');
      }
      const manifest = flags.manifest ? parseManifest(await fs.readFile(flags.manifest, 'utf8')) : undefined;
      const result = await verifyFile(file, {
        manifest,
        root: flags.root ? parseHex256('--root', flags.root) : undefined,
        pieceSize: flags.pieceSize ? parseByteCount('--piece-size', flags.pieceSize) : undefined,
        sha256: flags.sha256 ? parseHex256('--sha256', flags.sha256) : undefined,
      });
      if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else process.stderr.write(`${result.ok ? 'OK' : 'FAILED'}: ${result.message}\n`);
      if (!result.ok) process.exitCode = exitCodeFor[ErrorCode.VerificationFailed];
    });
  return program;
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, '; ');
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Builds the job from flags, runs it with progress, prints the result. Returns the exit code. */
async function runGet(urls: string[], flags: GetFlags): Promise<number> {
  let sources: SourceSpec[] = urls.map((text) => ({ ...parseSourceArgument(text), origin: 'cli' }));
  urls = sources.map((s) => s.url);
  let expected: ExpectedIdentity = {};
  let output = flags.output;
  if (urls.length === 1 && /\.(meta4|metalink)$/i.test(urls[0]) && !/^(https?|ftps?):/i.test(urls[0])) {
    // Loaded only here: the XML parser is not worth its start-up cost on ordinary runs.
    const { parseMetalink } = await import('../engine/metalink/metalinkParser');
    const { jobPartsFromMetalink } = await import('../engine/metalink/metalinkJob');
    const files = parseMetalink(await fs.readFile(urls[0], 'utf8').catch((error: Error) => {
      throw new FetchError(ErrorCode.BadArguments, `cannot read ${urls[0]}: ${error.message}`);
    }));
    if (files.length !== 1) throw new FetchError(ErrorCode.BadArguments, `${urls[0]} describes ${files.length} files; one per download is supported`);
    const parts = jobPartsFromMetalink(files[0]);
    if (parts.sources.length === 0) throw new FetchError(ErrorCode.BadArguments, `${urls[0]} lists no http(s) or ftp(s) URL`);
    if (parts.note && !flags.json) process.stderr.write(`note: ${parts.note}\n`);
    sources = parts.sources;
    expected = parts.expected;
    urls = sources.map((s) => s.url);
    const isDirectory = await fs.stat(output).then((st) => st.isDirectory(), () => false);
    if (isDirectory) output = path.join(output, files[0].name);
  }
  for (const route of flags.proxyRoute) {
    const { url, proxy } = parseProxyRoute(route);
    const matching = sources.filter((s) => s.url.startsWith(url) && !s.proxy && !s.localAddress);
    if (matching.length === 0) throw new FetchError(ErrorCode.BadArguments, `--proxy-route: no source URL starts with ${url}`);
    for (const source of matching) sources.push({ ...source, proxy, origin: 'cli-route' });
  }
  for (const route of flags.bindRoute) {
    const { url, localAddress } = parseBindRoute(route);
    const matching = sources.filter((s) => s.url.startsWith(url) && !s.proxy && !s.localAddress);
    if (matching.length === 0) throw new FetchError(ErrorCode.BadArguments, `--bind-route: no source URL starts with ${url}`);
    for (const source of matching) sources.push({ ...source, localAddress, origin: 'cli-route' });
  }
  if (flags.manifest) {
    const manifest = await loadTrustedManifest(flags.manifest, { primaryUrl: urls[0], root: flags.root });
    expected = expectationFromManifest(manifest);
  } else if (flags.root) {
    if (!flags.pieceSize) throw new FetchError(ErrorCode.BadArguments, '--root needs --piece-size (a root is only meaningful with its piece size)');
    expected = { root: parseHex256('--root', flags.root), pieceSize: parseByteCount('--piece-size', flags.pieceSize) };
  }
  if (flags.sha256) {
    const sha256 = parseHex256('--sha256', flags.sha256);
    if (expected.sha256 && expected.sha256.toLowerCase() !== sha256) {
      throw new FetchError(ErrorCode.BadArguments, '--sha256 disagrees with the manifest or metalink');
    }
    expected.sha256 = sha256;
  }
  const options: JobOptions = {
    sources,
    outputPath: path.resolve(output),
    stateDir: flags.stateDir ? path.resolve(flags.stateDir) : undefined,
    expected,
    pieceSize: flags.pieceSize && !flags.root ? parseByteCount('--piece-size', flags.pieceSize) : undefined,
    connectionsPerSource: flags.connections ? parsePositiveInt('--connections', flags.connections, 16) : undefined,
    maxActiveSources: flags.maxSources ? parsePositiveInt('--max-sources', flags.maxSources, 64) : undefined,
    maxConnections: flags.maxConnections ? parsePositiveInt('--max-connections', flags.maxConnections, 1024) : undefined,
    limitBytesPerSecond: flags.limitRate ? parseByteCount('--limit-rate', flags.limitRate) : undefined,
    minSourceSpeed: flags.minSpeed ? parseByteCount('--min-speed', flags.minSpeed) : undefined,
    overwrite: flags.overwrite === true,
    useLinkHeaderMirrors: flags.linkMirrors,
    deadlineMs: flags.deadline ? parsePositiveInt('--deadline', flags.deadline, 10 ** 7) * 1000 : undefined,
    location: flags.location ? parseLocation('--location', flags.location) : undefined,
    maxExpensiveShare: flags.maxExpensiveShare ? parseShare('--max-expensive-share', flags.maxExpensiveShare) : undefined,
    externalRanking: flags.rankingCommand
      ? { command: flags.rankingCommand }
      : flags.rankingUrl ? { url: parseHttpUrl('--ranking-url', flags.rankingUrl) } : undefined,
  };
  if (flags.streamTo === '-' && flags.json) throw new FetchError(ErrorCode.BadArguments, '--stream-to - and --json both want stdout; pick one');
  const job = new DownloadJob(options);
  const streaming = flags.streamTo ? streamJobTo(job, flags.streamTo) : undefined;
  const view = process.stderr.isTTY && !flags.quiet && !flags.json ? new (await import('./progressView')).ProgressView(job) : undefined;
  const onSignal = (): void => job.cancel(false);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  view?.start();
  const result = await job.run();
  view?.stop();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  const streamError = await streaming;
  if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  if (!result.ok) {
    // One line on stderr; the per-source causes stay in --json (sources[].reason).
    process.stderr.write(`artifact-fetch: ${oneLine(result.error?.message ?? 'failed')} (${result.error?.code})\n`);
    return exitCodeFor[(result.error?.code as ErrorCode) ?? ErrorCode.Internal] ?? 70;
  }
  if (streamError) {
    // The file is right, but what went to --stream-to is not all of it (a consumer that went
    // away, or a piece replaced by a repair after it was streamed).
    const failure = toFetchError(streamError);
    process.stderr.write(`artifact-fetch: the file is saved at ${result.path}, but the stream failed: ${oneLine(redactText(failure.message))}\n`);
    if (failure.code === ErrorCode.VerificationFailed) return exitCodeFor[failure.code];
  }
  if (!flags.json && !flags.quiet) {
    const how = result.verifiedBy === 'consistency' ? 'consistent across sources only (no hash was given)' : `verified by ${result.verifiedBy}`;
    process.stderr.write(`saved ${result.path}: ${result.size} bytes in ${result.seconds.toFixed(1)} s, ${how}\n  sha256 ${result.sha256}\n`);
    for (const source of result.sources) {
      process.stderr.write(`  ${source.url}: ${source.state}, ${(source.bytes / 1e6).toFixed(1)} MB, ${source.reason}\n`);
    }
  }
  return 0;
}

/** Entry point: maps every failure to one clear stderr line and a documented exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : exitCodeFor[ErrorCode.BadArguments];
    }
    const failure = toFetchError(error);
    process.stderr.write(`artifact-fetch: ${oneLine(redactText(failure.message))} (${failure.code})\n`);
    return exitCodeFor[failure.code];
  }
}

/** Runs the CLI on this process's arguments and exits with its code (dist/cli.js calls this). */
export function runAsProgram(): void {
  void main(process.argv).then((code) => {
    // Everything is settled (the job closed its files, sockets and hashing thread): exit as soon as
    // stdout and stderr are flushed instead of waiting for idle keep-alive timers to unwind.
    // (`serve` resolves only once it was stopped.)
    process.exitCode = code;
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  });
}

// Run directly (the tests bundle this file on its own); dist/cli.js loads it through launcher.ts.
if (require.main === module) runAsProgram();
