/**
 * Reused memory for socket reads. By default Node gives every read of a socket a fresh 64 KiB
 * buffer and frees it only when the garbage collector gets to it, tens of megabytes later. A fast
 * download therefore keeps touching memory it never touched before, and each new page is a page
 * fault: about 30k of them for 512 MiB. On a virtual machine a fault can cost a trip to the
 * hypervisor (about 10 µs on the VM of docs/BENCHMARK.md): ~0.3 s of a 1.7 s download.
 *
 * Here a socket reads into slots taken from this pool (Node's `onread` option), and the slot's
 * bytes travel on as views through undici's parser to the segment writer. A socket's slots grow
 * while its reads fill them (more bytes were waiting) and shrink when its reads get short: every
 * read costs a trip through the parser, the body stream and the writer whatever its size, and on
 * loopback 256 KiB reads took the receive path from ~0.68 s to ~0.55 s per 512 MiB
 * (bench/receivePaths.js) while a slow mirror's short reads still use small slots. The writer hands a
 * slot back only when no view of it can be in use any more (segmentFetcher.ts). Every mistake
 * fails safe: a slot nobody hands back is left to the garbage collector, and a late hand-back of
 * a slot that has been read into again since is ignored (each fill has its own generation).
 */
import type { Socket } from 'node:net';

/** One fill of one slot: handing the slot back is valid only for that fill. */
export interface SlotClaim {
  readonly memory: ArrayBufferLike;
  readonly generation: number;
}

/** Bytes per slot for plain TCP at first: what Node reads per call by default. */
export const TCP_SLOT_BYTES = 64 * 1024;
/** The largest slot a plain TCP socket grows to while its reads fill their slots. */
export const TCP_MAX_SLOT_BYTES = 256 * 1024;
/** Bytes per slot for TLS: Node reads one record per call, ≤ 16 KiB of plaintext. */
export const TLS_SLOT_BYTES = 16 * 1024;

/** The `onread` option of `net.connect` and `tls.connect`, which undici's connector passes on. */
export interface SocketReadOption {
  buffer: () => Buffer;
  callback: (this: Socket, length: number, buffer: Buffer) => boolean;
}

/** Read slots shared by every socket of a transport, kept per slot size. */
export class ReceiveBuffers {
  private readonly free = new Map<number, ArrayBuffer[]>();
  /** The fill each pooled slot is on (how often it was taken); absent for memory not from here. */
  private readonly generations = new WeakMap<ArrayBufferLike, number>();
  private readonly isFree = new WeakSet<ArrayBufferLike>();
  private freeBytes = 0;
  /** Slots taken from the free list again, and slots allocated: how well reuse works. */
  reused = 0;
  allocated = 0;

  /** @param maxFreeBytes memory kept for reuse at most; slots handed back beyond it are left to the garbage collector */
  constructor(private readonly maxFreeBytes = 16 * 1024 * 1024) {}

  /** A slot of `slotBytes` for the next read of a socket. */
  take(slotBytes: number): Buffer {
    let memory = this.free.get(slotBytes)?.pop();
    if (memory) {
      this.reused++;
      this.freeBytes -= slotBytes;
      this.isFree.delete(memory);
    } else {
      memory = new ArrayBuffer(slotBytes);
      this.allocated++;
    }
    this.generations.set(memory, (this.generations.get(memory) ?? 0) + 1);
    return Buffer.from(memory);
  }

  /** The claim on the fill `view` points into; undefined when its memory is not a slot. */
  claim(view: Uint8Array): SlotClaim | undefined {
    const generation = this.generations.get(view.buffer);
    return generation === undefined ? undefined : { memory: view.buffer, generation };
  }

  /**
   * Hands a slot back: no view of the claimed fill may be used after this. A claim on an older
   * fill, or on a slot that is free already, is ignored.
   */
  release(claim: SlotClaim): void {
    const { memory } = claim;
    if (this.generations.get(memory) !== claim.generation || this.isFree.has(memory)) return;
    if (this.freeBytes + memory.byteLength > this.maxFreeBytes) return;
    this.isFree.add(memory);
    this.freeBytes += memory.byteLength;
    let list = this.free.get(memory.byteLength);
    if (!list) this.free.set(memory.byteLength, (list = []));
    list.push(memory as ArrayBuffer);
  }

  /**
   * The `onread` option for one socket: its reads land in slots and are pushed on as views, so the
   * socket is still a plain stream to its reader (undici). Slots start at `slotBytes`; a read that
   * fills its slot doubles the next one, up to `maxSlotBytes`. A read of less than half a slot is
   * copied out and the slot read into again (a slow mirror's reads are small, and a whole slot
   * each would hold far more memory than bytes); a grown slot is then handed back and the next is
   * half as big. The option holds the socket's next slot, so it may serve one socket at a time only.
   */
  socketReadOption(slotBytes: number, maxSlotBytes = slotBytes): SocketReadOption {
    let size = slotBytes;
    let current: Buffer | undefined;
    const handBack = (slot: Buffer): void => this.release(this.claim(slot)!);
    return {
      buffer: () => (current ??= this.take(size)),
      callback(this: Socket, length: number, buffer: Buffer): boolean {
        if (length < buffer.length / 2) {
          const copy = Buffer.from(buffer.subarray(0, length));
          if (buffer.length > slotBytes) {
            // Nothing but the copy came from this fill, so the slot is free for whoever needs its size.
            current = undefined;
            size = buffer.length / 2;
            handBack(buffer);
          }
          return this.push(copy);
        }
        // The fill now belongs to the reader; the next read gets another slot.
        current = undefined;
        if (length === buffer.length) size = Math.min(maxSlotBytes, size * 2);
        return this.push(buffer.subarray(0, length));
      },
    };
  }
}
