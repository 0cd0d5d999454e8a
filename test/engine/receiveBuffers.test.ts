/**
 * Socket reads into reused slots (receiveBuffers.ts): the pool's rules, a real socket reading
 * into it, and whole jobs over plain HTTP and TLS whose files must come out byte-exact while the
 * slots are handed back and read into again. A writer that handed a slot back before its bytes
 * were written fails the job tests (the sockets read new bytes into it meanwhile).
 */
import * as assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { ReceiveBuffers, TCP_MAX_SLOT_BYTES, TCP_SLOT_BYTES, TLS_SLOT_BYTES } from '../../src/engine/receiveBuffers';
import { makeArtifact, sha256FileHex, sha256Hex } from '../harness/artifact';
import { testCa } from '../harness/testCa';
import { startTlsFront } from '../harness/tlsFront';
import { MiB, runJob, useFixtures } from './fixtures';

describe('engine: receive buffers (socket reads into reused slots)', () => {
  describe('the pool', () => {
    it('hands a slot back out after its release, as a new fill', () => {
      const pool = new ReceiveBuffers();
      const first = pool.take(TCP_SLOT_BYTES);
      assert.equal(first.length, TCP_SLOT_BYTES);
      const claim = pool.claim(first.subarray(100, 200))!;
      assert.ok(claim, 'a view into a slot has a claim');
      pool.release(claim);
      const second = pool.take(TCP_SLOT_BYTES);
      assert.equal(second.buffer, first.buffer, 'the same memory again');
      assert.equal(pool.claim(second)!.generation, claim.generation + 1);
      assert.deepEqual({ reused: pool.reused, allocated: pool.allocated }, { reused: 1, allocated: 1 });
    });

    it('ignores a late release of an older fill, a second release, and memory that is not a slot', () => {
      const pool = new ReceiveBuffers();
      const slot = pool.take(TCP_SLOT_BYTES);
      const oldClaim = pool.claim(slot)!;
      pool.release(oldClaim);
      pool.release(oldClaim); // twice: still one free slot
      const again = pool.take(TCP_SLOT_BYTES);
      assert.equal(again.buffer, slot.buffer);
      // The slot is being read into again: the old fill's claim must not free it.
      pool.release(oldClaim);
      const other = pool.take(TCP_SLOT_BYTES);
      assert.notEqual(other.buffer, slot.buffer, 'a stale release handed out memory in use');
      assert.equal(pool.claim(Buffer.alloc(16)), undefined);
      assert.equal(pool.claim(Buffer.allocUnsafe(TCP_SLOT_BYTES)), undefined);
    });

    it('keeps slots apart by size and at most maxFreeBytes for reuse', () => {
      const pool = new ReceiveBuffers(2 * TCP_SLOT_BYTES);
      const slots = [0, 1, 2].map(() => pool.take(TCP_SLOT_BYTES));
      for (const slot of slots) pool.release(pool.claim(slot)!);
      const small = pool.take(TLS_SLOT_BYTES);
      assert.equal(small.length, TLS_SLOT_BYTES, 'a TLS slot is never a TCP slot handed out');
      const reused = [0, 1, 2].map(() => pool.take(TCP_SLOT_BYTES).buffer);
      assert.equal(reused.filter((memory) => slots.some((slot) => slot.buffer === memory)).length, 2, 'two slots were kept, the third went to the garbage collector');
    });
  });

  describe('a socket reading into slots', () => {
    const servers: net.Server[] = [];
    afterEach(() => {
      for (const server of servers.splice(0)) server.close();
    });

    it('large reads arrive as views of slots, small ones as copies, and every byte is intact', async () => {
      const payload = makeArtifact(8 * MiB, 'socket');
      const server = net.createServer((socket) => {
        // A few small writes first (the client reads them as small reads), then the bulk.
        let sent = 0;
        const small = (): void => {
          if (sent >= 3 * 1024) {
            socket.end(payload.subarray(sent));
            return;
          }
          socket.write(payload.subarray(sent, sent + 1024));
          sent += 1024;
          setTimeout(small, 20);
        };
        small();
      });
      servers.push(server);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const pool = new ReceiveBuffers();
      const socket = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', onread: pool.socketReadOption(TCP_SLOT_BYTES) });
      const chunks: Buffer[] = [];
      let views = 0;
      let copies = 0;
      socket.on('data', (chunk: Buffer) => {
        const claim = pool.claim(chunk);
        if (claim) {
          views++;
          // Copy out and hand the slot back at once, as a writer does after its write.
          chunks.push(Buffer.from(chunk));
          pool.release(claim);
        } else {
          copies++;
          chunks.push(chunk);
        }
      });
      await once(socket, 'end');
      assert.equal(sha256Hex(Buffer.concat(chunks)), sha256Hex(payload));
      assert.ok(copies >= 3, `the 1 KiB reads were copied (${copies} copies)`);
      assert.ok(views > 10, `the bulk came as slot views (${views})`);
      assert.ok(pool.reused > pool.allocated, `slots were read into again (reused ${pool.reused}, allocated ${pool.allocated})`);
    });

    it('slots grow while reads fill them and shrink again after short reads; a view always fills at least half its slot', async () => {
      const bulk = (tag: string): Buffer => makeArtifact(4 * MiB, tag);
      const phases = [bulk('grow-1'), ...[0, 1, 2].map((i) => makeArtifact(1024, `short-${i}`)), bulk('grow-2')];
      const payload = Buffer.concat(phases);
      let gotShort = (): void => undefined;
      const server = net.createServer(async (socket) => {
        // A bulk while the client is not reading (its reads then find a full socket), three short
        // writes it reads one by one, then another bulk.
        socket.write(phases[0]);
        await new Promise((resolve) => setTimeout(resolve, 150));
        for (const short of phases.slice(1, 4)) {
          await new Promise<void>((resolve) => { gotShort = resolve; socket.write(short); });
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        socket.end(phases[4]);
      });
      servers.push(server);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const pool = new ReceiveBuffers();
      const socket = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', onread: pool.socketReadOption(TCP_SLOT_BYTES, TCP_MAX_SLOT_BYTES) });
      socket.pause();
      setTimeout(() => socket.resume(), 100);
      const chunks: Buffer[] = [];
      // The slot size of each view, in arrival order; 0 marks a copy.
      const slotSizes: number[] = [];
      let received = 0;
      socket.on('data', (chunk: Buffer) => {
        const claim = pool.claim(chunk);
        slotSizes.push(claim ? claim.memory.byteLength : 0);
        if (claim) assert.ok(chunk.length >= claim.memory.byteLength / 2, `a ${chunk.length}-byte view of a ${claim.memory.byteLength}-byte slot`);
        chunks.push(Buffer.from(chunk));
        if (claim) pool.release(claim);
        received += chunk.length;
        if (received > phases[0].length) gotShort();
      });
      await once(socket, 'end');
      assert.equal(sha256Hex(Buffer.concat(chunks)), sha256Hex(payload));
      const firstBulk = slotSizes.slice(0, slotSizes.findIndex((_, i) => chunks.slice(0, i + 1).reduce((n, c) => n + c.length, 0) >= phases[0].length) + 1);
      assert.ok(firstBulk.includes(TCP_MAX_SLOT_BYTES), `the first bulk grew its slots to ${TCP_MAX_SLOT_BYTES} (${firstBulk.join(',')})`);
      assert.ok(slotSizes.every((size) => size <= TCP_MAX_SLOT_BYTES), 'no slot beyond the maximum');
      // After the short reads (copies) the next view comes from a small slot again.
      const afterShort = slotSizes.slice(firstBulk.length);
      assert.ok(afterShort.filter((size) => size === 0).length >= 3, `the short reads were copied (${afterShort.join(',')})`);
      const nextView = afterShort.find((size, i) => size > 0 && afterShort.slice(0, i).filter((s) => s === 0).length >= 3);
      assert.equal(nextView, TCP_SLOT_BYTES, `the first view after the short reads (${afterShort.join(',')})`);
    });
  });

  describe('whole jobs', () => {
    const fx = useFixtures();

    it('plain HTTP, 4 connections per mirror: the slots are read into again and the file is byte-exact', async () => {
      const body = makeArtifact(48 * MiB, 'receive-http');
      const mirrors = [await fx.mirror({ body }), await fx.mirror({ body, bytesPerSecond: 30e6 })];
      const outputPath = path.join(await fx.tempDir(), 'out.bin');
      const run = await runJob(fx, { sources: mirrors.map((m) => ({ url: m.url })), outputPath, connectionsPerSource: 4 });
      assert.equal(run.result.ok, true, JSON.stringify(run.result.error));
      assert.equal(await sha256FileHex(outputPath), sha256Hex(body));
      const use = run.job.receiveBufferUse;
      // 768 fills of 64 KiB. The slots in use at once are bounded by the writers' buffers (8
      // connections × FLUSH_BYTES at most), whatever the machine's load. Never handing back: 0.
      assert.ok(use.reused > 2 * use.allocated, `reused ${use.reused}, allocated ${use.allocated}`);
    });

    it('a speed limit holds chunks back while the sockets read on: the file is still byte-exact', async () => {
      const body = makeArtifact(64 * MiB, 'receive-limit');
      const mirror = await fx.mirror({ body });
      const outputPath = path.join(await fx.tempDir(), 'out.bin');
      const run = await runJob(fx, { sources: [{ url: mirror.url }], outputPath, connectionsPerSource: 4, limitBytesPerSecond: 80e6 });
      assert.equal(run.result.ok, true, JSON.stringify(run.result.error));
      assert.equal(await sha256FileHex(outputPath), sha256Hex(body));
      const use = run.job.receiveBufferUse;
      // The slots held at once depend on the machine's load: each of the 4 writers buffers up to
      // FLUSH_BYTES (2 MiB) while its chunks wait, and a busy CI machine once held 157 slots of a
      // 16 MiB file. So the file is 1,024 fills, several times what can be held at once, and most
      // fills must reuse a slot. A writer that never hands a slot back gives 0 reuses.
      assert.ok(use.reused > use.allocated, `reused ${use.reused}, allocated ${use.allocated}`);
    });

    it('TLS: records land in 16 KiB slots, and the file is byte-exact', async () => {
      const body = makeArtifact(24 * MiB, 'receive-tls');
      const mirror = await fx.mirror({ body });
      const ca = testCa();
      const front = await startTlsFront({ host: '127.0.0.1', port: Number(new URL(mirror.url).port) }, ca.server);
      fx.defer(() => front.close());
      const outputPath = path.join(await fx.tempDir(), 'out.bin');
      const run = await runJob(fx, { sources: [{ url: front.url(new URL(mirror.url).pathname) }], outputPath, ca: ca.caPem, connectionsPerSource: 4 });
      assert.equal(run.result.ok, true, JSON.stringify(run.result.error));
      assert.equal(await sha256FileHex(outputPath), sha256Hex(body));
      const use = run.job.receiveBufferUse;
      assert.ok(use.reused > 4 * use.allocated, `reused ${use.reused}, allocated ${use.allocated}`);
    });
  });
});
