import * as assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { consumeBody } from '../../src/engine/segmentFetcher';

/**
 * Regression: a body may emit 'end' (or fail, or be aborted) while the write of its last chunk is
 * still running. consumeBody used to resolve at once; the segment then gave the bytes of that
 * write back to the planner before they were committed, and they were fetched a second time
 * (seen as an FTP REST in the middle of a piece).
 */
describe('engine: consumeBody waits for the chunk being written', () => {
  const slowWrite = (log: string[], ms: number) => (chunk: Buffer): Promise<boolean> =>
    new Promise((resolve) => setTimeout(() => {
      log.push(`wrote ${chunk.length}`);
      resolve(false);
    }, ms));

  it("resolves only after the last chunk's write when 'end' comes during it", async () => {
    const log: string[] = [];
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(1000));
    body.push(null);
    await consumeBody(body, new AbortController().signal, slowWrite(log, 50));
    log.push('resolved');
    assert.deepEqual(log, ['wrote 1000', 'resolved']);
  });

  it('rejects with a body error only after the running write finished', async () => {
    const log: string[] = [];
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(10));
    setTimeout(() => body.destroy(new Error('reset')), 10);
    await assert.rejects(consumeBody(body, new AbortController().signal, slowWrite(log, 60)), /reset/);
    log.push('rejected');
    assert.deepEqual(log, ['wrote 10', 'rejected']);
  });

  it('an abort during a write settles after that write', async () => {
    const log: string[] = [];
    const controller = new AbortController();
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(5));
    setTimeout(() => controller.abort(), 10);
    await consumeBody(body, controller.signal, slowWrite(log, 60));
    log.push('settled');
    assert.deepEqual(log, ['wrote 5', 'settled']);
  });
});
