/**
 * `artifact-fetch serve`: a loopback HTTP server a program can use as its download endpoint (the
 * "intercept"). `GET /<path>` is fetched from `--upstream <prefix>` + path and from every
 * `--mirror <prefix>` + path at once, and streamed back in order as it verifies; the file lands
 * in `--dir` at the same path, so a later GET is answered from the verified copy. Requests for a
 * path that is downloading join the running job. Only 127.0.0.1, only loopback Host names.
 */
import type { Command } from 'commander';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DownloadJob } from '../engine/downloadJob';
import { ErrorCode, FetchError, toFetchError } from '../engine/errors';
import type { JobOptions } from '../engine/jobOptions';
import { redactText, redactUrl } from '../engine/security/redaction';
import { resolveInsideFolder } from '../engine/security/pathSafety';
import { fileByteSource } from '../engine/stream/fileByteSource';
import { LoopbackServer, type ByteSource, type Resolution } from '../engine/stream/loopbackServer';
import { parseByteCount, parsePositiveInt } from './argumentParsers';

interface ServeFlags {
  port: string;
  upstream: string;
  mirror: string[];
  dir: string;
  connections?: string;
  pieceSize?: string;
}

/** Adds `serve` to the program. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve files of an upstream on 127.0.0.1, fetched from the upstream and its mirrors at once and streamed as they verify')
    .requiredOption('--upstream <url-prefix>', 'GET /<path> fetches <url-prefix><path>')
    .option('--mirror <url-prefix>', 'a mirror of the upstream: <url-prefix><path> holds the same file (repeatable)', collect, [])
    .requiredOption('--dir <folder>', 'where fetched files land (and their .artifact-fetch state); later GETs are served from here')
    .option('--port <n>', 'port on 127.0.0.1 (default: any free port, printed on stderr)', '0')
    .option('--connections <n>', 'connections per source (default 4)')
    .option('--piece-size <bytes>', 'piece size (power of two, >= 16K); default: chosen from the size')
    .action(async (flags: ServeFlags) => {
      process.exitCode = await runServe(flags);
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Serves until SIGINT or SIGTERM; running jobs are cancelled with their resumable state kept. */
async function runServe(flags: ServeFlags): Promise<number> {
  const prefixes = [flags.upstream, ...flags.mirror].map(checkPrefix);
  const dir = path.resolve(flags.dir);
  if (!(await fs.stat(dir).then((st) => st.isDirectory(), () => false))) throw new FetchError(ErrorCode.Disk, `--dir ${dir} is not a folder`);
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new FetchError(ErrorCode.BadArguments, `--port expects 0-65535, got "${flags.port}"`);
  const jobOptions: Partial<JobOptions> = {
    connectionsPerSource: flags.connections ? parsePositiveInt('--connections', flags.connections, 16) : undefined,
    pieceSize: flags.pieceSize ? parseByteCount('--piece-size', flags.pieceSize) : undefined,
  };
  /** Jobs by target file, registered before their first await so two GETs share one job. */
  const running = new Map<string, Promise<DownloadJob>>();
  const runs = new Set<Promise<unknown>>();

  const resolve = async (url: URL): Promise<Resolution> => {
    let relative: string;
    let file: string;
    try {
      relative = decodeURIComponent(url.pathname).replace(/^\/+/, '');
      file = resolveInsideFolder(dir, relative, { deny: ['.git', '.vscode', '.artifact-fetch'] });
    } catch {
      return { status: 404, message: 'not a file path this server can fetch' };
    }
    const job = running.get(file);
    if (job) return { source: jobSource(await job, file) };
    if (await fs.lstat(file).then((st) => st.isFile(), () => false)) return { source: fileByteSource(file) };
    let starting = running.get(file);
    if (!starting) {
      starting = startJob(relative, file);
      running.set(file, starting);
      starting.catch(() => running.delete(file));
    }
    return { source: jobSource(await starting, file) };
  };

  const startJob = async (relative: string, file: string): Promise<DownloadJob> => {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const encoded = relative.split('/').map(encodeURIComponent).join('/');
    const job = new DownloadJob({
      ...jobOptions,
      sources: prefixes.map((prefix, i) => ({ url: `${prefix}${encoded}`, origin: i === 0 ? 'upstream' : 'mirror' })),
      outputPath: file,
      stateDir: path.join(dir, '.artifact-fetch'),
    });
    process.stderr.write(`fetching /${relative} from ${prefixes.length} source(s)\n`);
    const run = job.run().then((result) => {
      running.delete(file);
      runs.delete(run);
      process.stderr.write(result.ok
        ? `done /${relative}: ${result.size} bytes in ${result.seconds.toFixed(1)} s, ${result.verifiedBy}\n`
        : `failed /${relative}: ${redactText(result.error?.message ?? 'failed').replace(/\s*\n\s*/g, '; ')}\n`);
    });
    runs.add(run);
    return job;
  };

  let server: LoopbackServer;
  try {
    server = await LoopbackServer.start(resolve, port);
  } catch (error) {
    throw toFetchError(error, ErrorCode.BadArguments);
  }
  process.stderr.write(`serving ${server.origin}/ → ${redactUrl(prefixes[0])} (+${prefixes.length - 1} mirror(s)), files in ${dir}\n`);
  await new Promise<void>((stop) => {
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  for (const job of running.values()) void job.then((j) => j.cancel(false), () => undefined);
  await Promise.all(runs);
  return 0;
}

function jobSource(job: DownloadJob, file: string): ByteSource {
  return { name: path.basename(file), size: () => job.streams.size(), open: (start, end) => job.openStream(start, end) };
}

function checkPrefix(prefix: string): string {
  let url: URL;
  try {
    url = new URL(prefix);
  } catch {
    throw new FetchError(ErrorCode.BadArguments, `not a URL prefix: ${redactUrl(prefix)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FetchError(ErrorCode.BadArguments, `--upstream and --mirror take http(s) prefixes, got ${url.protocol}`);
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}
