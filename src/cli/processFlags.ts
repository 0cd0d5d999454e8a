/**
 * V8 settings for the CLI's and the demo's own process, applied by being the first module they load: before
 * undici compiles its HTTP parser (llhttp, WebAssembly) on the first connection.
 *
 * `--liftoff-only`: V8 compiles WebAssembly with its baseline compiler (Liftoff) and then, in the
 * background, again with its optimizing one. For llhttp that second compile takes a core for
 * ~0.3 s in the middle of the download, and a process cannot exit before it finished: a CLI run
 * for a 1 MB file took 0.42–0.58 s with it and 0.28–0.35 s without it (docs/BENCHMARK.md). The
 * parser gains nothing a download could measure from optimized code: it reads the response head
 * and then only counts body bytes.
 *
 * Only our own processes set it: the extension's engine runs inside VS Code's extension host, whose flags
 * belong to every extension, and a long-lived host pays the compile once.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--liftoff-only');
