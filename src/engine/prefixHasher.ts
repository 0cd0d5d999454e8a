/**
 * The whole-file SHA-256, computed while the download runs, on a thread of its own: it follows the
 * contiguous prefix of done pieces, reading them back from the part file (still in the page
 * cache), so the download's thread never hashes twice and at the end only the last pieces remain.
 *
 * A small file is hashed on the job's own thread once it is complete instead: a thread takes
 * ~50 ms to boot on the machine of docs/BENCHMARK.md, while 16 MiB hash in ~10 ms, so for a small
 * download the thread's boot would be the last thing the job waits for.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { PieceStore } from './pieceStore';

/**
 * The hashing thread, kept as source text so it works the same from the CLI bundle, the
 * extension's worker bundle and the tests (no extra file to locate at run time).
 */
const HASH_THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
let hash = crypto.createHash('sha256');
let position = 0;
// Opened when told ('open', once the part file exists: the thread may start before it does),
// and held: the file stays readable even if its folder is removed meanwhile.
let fd;
const buffer = Buffer.allocUnsafe(4 * 1024 * 1024);
function hashUpTo(end) {
  while (position < end) {
    const read = fs.readSync(fd, buffer, 0, Math.min(buffer.length, end - position), position);
    if (read <= 0) throw new Error('part file shorter than expected at ' + position);
    hash.update(read === buffer.length ? buffer : buffer.subarray(0, read));
    position += read;
  }
}
parentPort.on('message', (message) => {
  try {
    if (message.type === 'open') { if (fd === undefined) fd = fs.openSync(workerData.path, 'r'); return; }
    if (message.type === 'restart') { hash = crypto.createHash('sha256'); position = 0; return; }
    hashUpTo(message.upTo);
    if (message.type === 'finish') {
      const hex = hash.digest('hex');
      hash = crypto.createHash('sha256');
      position = 0;
      parentPort.postMessage({ type: 'digest', hex });
    }
  } catch (error) {
    parentPort.postMessage({ type: 'error', message: String(error && error.message || error) });
  }
});
`;

/** Files up to this size are hashed on the job's thread at the end (see the file's comment). */
export const INLINE_HASH_MAX_BYTES = 16 * 1024 * 1024;
/** Bytes read back and hashed per step when hashing on the job's thread. */
const INLINE_READ_BYTES = 4 * 1024 * 1024;

const ADVANCE_STEP = 16 * 1024 * 1024;
/** Within this many bytes of the end, the hashing thread is told in steps of NEAR_END_STEP. */
const NEAR_END_BYTES = 64 * 1024 * 1024;
const NEAR_END_STEP = 2 * 1024 * 1024;

/** Where the bytes are read back from when the job's thread hashes them (the job's part file). */
export interface PartReader {
  read(position: number, length: number, into?: Buffer): Promise<Buffer>;
}

/**
 * The whole-file hash of a part file. attach() gives it the pieces to follow once the layout (and
 * the file) exists: a file over INLINE_HASH_MAX_BYTES then gets its hashing thread, which opens
 * the file and follows the done prefix; a smaller one is read back and hashed by finish().
 */
export class PrefixHasher {
  private worker?: Worker;
  private pieces?: PieceStore;
  private reader?: PartReader;
  private nextPiece = 0;
  private sentUpTo = 0;
  private pending?: { resolve(hex: string): void; reject(error: Error): void };
  private failure?: Error;

  constructor(private readonly partPath: string) {}

  /** True when a thread hashes this file (a file over INLINE_HASH_MAX_BYTES). */
  get usesThread(): boolean {
    return this.worker !== undefined;
  }

  /** The pieces whose contiguous done prefix is hashed (the job's layout), and the part file, which exists by now. */
  attach(pieces: PieceStore, reader: PartReader): void {
    this.pieces = pieces;
    this.reader = reader;
    if (pieces.size > INLINE_HASH_MAX_BYTES && !this.worker) this.startThread();
  }

  /** Boots the hashing thread and has it open the part file. */
  private startThread(): void {
    this.worker = new Worker(HASH_THREAD_SOURCE, { eval: true, workerData: { path: this.partPath } });
    this.worker.unref();
    this.worker.on('message', (message: { type: string; hex?: string; message?: string }) => {
      const pending = this.pending;
      this.pending = undefined;
      if (message.type === 'digest') pending?.resolve(message.hex!);
      else {
        this.failure = new Error(`whole-file hash failed: ${message.message}`);
        pending?.reject(this.failure);
      }
    });
    this.worker.on('error', (error) => {
      this.failure = error;
      this.pending?.reject(error);
    });
    this.worker.postMessage({ type: 'open' });
  }

  /** Tells the hashing thread how far the done prefix now reaches. */
  kick(): void {
    if (!this.pieces) return;
    while (this.nextPiece < this.pieces.count && this.pieces.isDone(this.nextPiece)) this.nextPiece++;
    if (!this.worker) return;
    const upTo = this.nextPiece > 0 ? this.pieces.pieceEnd(this.nextPiece - 1) : 0;
    // Messages cost this thread ~0.15 ms each: tell the hashing thread in steps of ADVANCE_STEP,
    // and in small steps near the end, so that little is left to hash once the last piece is in.
    const step = this.pieces.size - upTo <= NEAR_END_BYTES ? NEAR_END_STEP : ADVANCE_STEP;
    if (upTo - this.sentUpTo >= step || (upTo === this.pieces.size && upTo > this.sentUpTo)) {
      this.sentUpTo = upTo;
      this.worker.postMessage({ type: 'advance', upTo });
    }
  }

  /** Hashes the rest (all pieces must be done) and returns the hex digest. */
  finish(): Promise<string> {
    this.kick();
    const pieces = this.pieces;
    if (!pieces || this.nextPiece !== pieces.count) return Promise.reject(new Error('whole-file hash requested before every piece is done'));
    if (this.failure) return Promise.reject(this.failure);
    const worker = this.worker;
    if (!worker) return hashInline(this.reader!, pieces.size);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      worker.postMessage({ type: 'finish', upTo: pieces.size });
    });
  }

  /** Starts over (a repair replaced pieces the prefix already covered). */
  async restart(): Promise<void> {
    this.nextPiece = 0;
    this.sentUpTo = 0;
    this.worker?.postMessage({ type: 'restart' });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}

/** The SHA-256 of the first `size` bytes of the part file, read back and hashed on this thread. */
async function hashInline(reader: PartReader, size: number): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(Math.min(INLINE_READ_BYTES, Math.max(1, size)));
  for (let position = 0; position < size; ) {
    const length = Math.min(buffer.length, size - position);
    const read = await reader.read(position, length, buffer.subarray(0, length));
    if (read.length < length) throw new Error(`whole-file hash failed: part file shorter than expected at ${position + read.length}`);
    hash.update(read);
    position += length;
  }
  return hash.digest('hex');
}
