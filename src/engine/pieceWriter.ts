/**
 * The writer thread: every byte that goes into the `.part` file is written there, and bytes of a
 * piece being received are hashed into its RFC 6962 leaf `SHA-256(0x00 ‖ piece)` on the way.
 * The download thread then only receives and keeps the books: at full loopback speed hashing and
 * writing were about half of its work, and with them it left a core idle.
 *
 * One thread, one queue: writes land in the order they were asked (a racer's piece after the
 * write of the channel it beat, a repair after the bytes it replaces), and a piece's running hash
 * sees its bytes in file order. Bytes travel through slots of shared memory, handed to the thread
 * once and reused: one copy on the download thread, and messages that carry only a slot number
 * (transferring a fresh buffer per write made the garbage collector run several times as often).
 */
import { Worker } from 'node:worker_threads';

/** A piece these bytes completed: its leaf (and plain SHA-256, when Metalink piece hashes check it). */
export interface CompletedLeaf {
  index: number;
  leaf: Buffer;
  plain?: Buffer;
}

/**
 * Bytes of one slot: a channel's flush (2 MiB plus the chunk that crossed it) fits in one; larger
 * writes (a repair of a big piece) take several, in order.
 */
const SLOT_BYTES = 2 * 1024 * 1024 + 256 * 1024;

/**
 * The thread, kept as source text so it works the same from the CLI bundle, the extension's
 * worker bundle and the tests (no extra file to locate at run time).
 */
const WRITER_THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
const { fd, size, pieceSize, plain } = workerData;
const LEAF_PREFIX = Buffer.of(0);
/** index -> { hash, plain, received } for pieces whose bytes are still coming. */
const running = new Map();
function hashInto(position, data, leaves) {
  let used = 0;
  while (used < data.length) {
    const index = Math.floor((position + used) / pieceSize);
    const pieceStart = index * pieceSize;
    const pieceEnd = Math.min(size, pieceStart + pieceSize);
    let state = running.get(index);
    if (!state) {
      if (position + used !== pieceStart) throw Object.assign(new Error('piece ' + index + ' fed at ' + (position + used - pieceStart) + ' without its start'), { order: true });
      state = { hash: crypto.createHash('sha256').update(LEAF_PREFIX), plain: plain ? crypto.createHash('sha256') : undefined, received: 0 };
      running.set(index, state);
    } else if (pieceStart + state.received !== position + used) {
      throw Object.assign(new Error('piece ' + index + ' fed at ' + (position + used - pieceStart) + ', expected ' + state.received), { order: true });
    }
    const take = Math.min(data.length - used, pieceEnd - (position + used));
    const part = take === data.length ? data : data.subarray(used, used + take);
    state.hash.update(part);
    if (state.plain) state.plain.update(part);
    state.received += take;
    used += take;
    if (pieceStart + state.received === pieceEnd) {
      running.delete(index);
      leaves.push({ index, leaf: state.hash.digest(), plain: state.plain ? state.plain.digest() : undefined });
    }
  }
}
/** Slot number -> its shared memory, registered once. */
const slots = new Map();
parentPort.on('message', (message) => {
  if (message.type === 'forget') {
    running.delete(message.index);
    return;
  }
  if (message.type === 'slot') {
    slots.set(message.slot, Buffer.from(message.memory));
    return;
  }
  const data = slots.get(message.slot).subarray(0, message.length);
  const leaves = [];
  try {
    let written = 0;
    while (written < message.length) written += fs.writeSync(fd, data, written, message.length - written, message.position + written);
    if (message.hash) hashInto(message.position, data, leaves);
    parentPort.postMessage({ id: message.id, leaves });
  } catch (error) {
    parentPort.postMessage({ id: message.id, failure: { message: String(error && error.message || error), code: error && error.code, order: Boolean(error && error.order) } });
  }
});
`;

/** A piece's bytes did not continue where its running hash stopped: a bookkeeping bug, not the disk's. */
export class PieceOrderError extends Error {
  override readonly name = 'PieceOrderError';
}

interface Reply {
  id: number;
  leaves?: CompletedLeaf[];
  failure?: { message: string; code?: string; order: boolean };
}

export class PieceWriter {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { slot: number; resolve(leaves: CompletedLeaf[]): void; reject(error: Error): void }>();
  /** Every slot's memory (index = slot number) and the numbers of those not in use. */
  private readonly slots: Buffer[] = [];
  private readonly freeSlots: number[] = [];
  private nextId = 1;
  private failure?: Error;

  /**
   * @param fd the part file's descriptor; it must stay open until close() resolved
   * @param plain also compute each piece's plain SHA-256 (Metalink piece hashes)
   */
  constructor(fd: number, layout: { size: number; pieceSize: number; plain: boolean }) {
    this.worker = new Worker(WRITER_THREAD_SOURCE, { eval: true, workerData: { fd, ...layout } });
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => this.settle(reply));
    this.worker.on('error', (error) => this.failAll(error));
    this.worker.on('exit', () => this.failAll(new Error('the writer thread stopped')));
  }

  /**
   * Writes `buffers` contiguously at `position`; with `hash`, their bytes also continue their
   * pieces' running leaf hashes. Resolves with the pieces they completed, once the bytes are in
   * the file. Rejects with a PieceOrderError when a piece's bytes do not continue where its hash
   * stopped, and with the system error (code kept) when the write fails.
   */
  async write(position: number, buffers: Buffer[], hash: boolean): Promise<CompletedLeaf[]> {
    const total = buffers.reduce((sum, buffer) => sum + buffer.length, 0);
    const leaves: CompletedLeaf[] = [];
    let offset = 0;
    let index = 0;
    let within = 0;
    // Each message carries one slot; a write larger than a slot goes as several, in order.
    const sends: Array<Promise<CompletedLeaf[]>> = [];
    while (offset < total) {
      const length = Math.min(SLOT_BYTES, total - offset);
      const slot = this.takeSlot();
      const view = this.slots[slot];
      let filled = 0;
      while (filled < length) {
        const source = buffers[index];
        const take = Math.min(source.length - within, length - filled);
        view.set(take === source.length && within === 0 ? source : source.subarray(within, within + take), filled);
        filled += take;
        within += take;
        if (within === source.length) {
          index++;
          within = 0;
        }
      }
      sends.push(this.send({ type: 'write', position: position + offset, slot, length, hash }));
      offset += length;
    }
    for (const completed of await Promise.all(sends)) leaves.push(...completed);
    return leaves;
  }

  /** Forgets a half-received piece's running hash: its bytes will come again from its start. */
  forget(index: number): void {
    this.worker.postMessage({ type: 'forget', index });
  }

  /** Stops the thread (after the writes already asked for). The descriptor may be closed after this. */
  async close(): Promise<void> {
    await this.worker.terminate();
  }

  /** A free slot, or a new one (registered with the thread): as many exist as writes ran at once. */
  private takeSlot(): number {
    const free = this.freeSlots.pop();
    if (free !== undefined) return free;
    const memory = new SharedArrayBuffer(SLOT_BYTES);
    const slot = this.slots.push(Buffer.from(memory)) - 1;
    this.worker.postMessage({ type: 'slot', slot, memory });
    return slot;
  }

  private send(message: { type: 'write'; position: number; slot: number; length: number; hash: boolean }): Promise<CompletedLeaf[]> {
    if (this.failure) {
      this.freeSlots.push(message.slot);
      return Promise.reject(this.failure);
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { slot: message.slot, resolve, reject });
      this.worker.postMessage({ ...message, id });
    });
  }

  private settle(reply: Reply): void {
    const waiter = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    if (!waiter) return;
    this.freeSlots.push(waiter.slot);
    if (!reply.failure) {
      waiter.resolve((reply.leaves ?? []).map((l) => ({ index: l.index, leaf: Buffer.from(l.leaf), plain: l.plain ? Buffer.from(l.plain) : undefined })));
      return;
    }
    const { message, code, order } = reply.failure;
    waiter.reject(order ? new PieceOrderError(message) : Object.assign(new Error(message), { code }));
  }

  private failAll(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.pending.values()) {
      this.freeSlots.push(waiter.slot);
      waiter.reject(this.failure);
    }
    this.pending.clear();
  }
}
