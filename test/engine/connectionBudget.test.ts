import * as assert from 'node:assert/strict';
import { ConnectionBudget, channelAllowance, defaultConnectionCap } from '../../src/engine/connectionBudget';
import { HttpTransport, finishBody } from '../../src/engine/httpTransport';
import { makeArtifact } from '../harness/artifact';
import { KiB, useFixtures } from './fixtures';

/** A budget over numbered fake connections that records what was opened and closed. */
function fakeBudget(limit: number, perRoute: number) {
  const opened: string[] = [];
  const closed: string[] = [];
  let next = 0;
  const budget = new ConnectionBudget<string>(limit, perRoute, {
    open: (route) => {
      const id = `${route}#${next++}`;
      opened.push(id);
      return id;
    },
    close: async (connection) => {
      closed.push(connection);
    },
  });
  return { budget, opened, closed };
}

/** True when `promise` has settled within a few turns of the event loop. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => { done = true; }, () => { done = true; });
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('engine: the job-wide connection budget', () => {
  it('defaults to the active set plus room for checks, within [16, 256]; channels leave a reserve', () => {
    assert.equal(defaultConnectionCap(4, 6), 32);
    assert.equal(defaultConnectionCap(1, 1), 16);
    assert.equal(defaultConnectionCap(16, 64), 256);
    // 4 mirrors × 4 connections fit under the default cap with room to spare.
    assert.ok(channelAllowance(defaultConnectionCap(4, 6)) >= 4 * 6 + 1);
    assert.equal(channelAllowance(12), 9);
    assert.equal(channelAllowance(1), 1);
  });

  it('reuses an idle connection of the same route (keep-alive) instead of opening another', async () => {
    const { budget, opened } = fakeBudget(4, 4);
    const first = await budget.acquire('a');
    first.release();
    const second = await budget.acquire('a');
    assert.equal(second.connection, first.connection);
    assert.deepEqual(opened, ['a#0']);
    assert.equal(budget.open, 1);
  });

  it('at the cap, closes the least recently used idle connection of another route before opening one', async () => {
    const { budget, closed } = fakeBudget(2, 4);
    const a = await budget.acquire('a');
    const b = await budget.acquire('b');
    b.release();
    a.release(); // a is now the most recently used
    const c = await budget.acquire('c');
    assert.deepEqual(closed, ['b#1']);
    assert.equal(budget.open, 2);
    assert.equal(budget.peak, 2);
    c.release();
  });

  it('never closes a busy connection: a request at the cap waits for a release, in order', async () => {
    const { budget, closed } = fakeBudget(2, 4);
    const a = await budget.acquire('a');
    const b = await budget.acquire('b');
    const waitingC = budget.acquire('c');
    const waitingD = budget.acquire('d');
    assert.equal(await settled(waitingC), false);
    b.release();
    const c = await waitingC;
    assert.equal(c.connection, 'c#2');
    assert.deepEqual(closed, ['b#1']);
    assert.equal(await settled(waitingD), false);
    a.release();
    assert.equal((await waitingD).connection, 'd#3');
    assert.equal(budget.peak, 2);
  });

  it('caps one route at perRoute connections; the next request to it waits for one of them', async () => {
    const { budget, opened } = fakeBudget(10, 2);
    const one = await budget.acquire('a');
    await budget.acquire('a');
    const third = budget.acquire('a');
    assert.equal(await settled(third), false);
    one.release();
    assert.equal((await third).connection, one.connection);
    assert.equal(opened.length, 2);
  });

  it('a waiting request whose signal aborts leaves the queue with the abort reason', async () => {
    const { budget } = fakeBudget(1, 1);
    const held = await budget.acquire('a');
    const controller = new AbortController();
    const waiting = budget.acquire('b', controller.signal);
    controller.abort(new Error('segment dropped'));
    await assert.rejects(waiting, /segment dropped/);
    held.release();
    // The aborted waiter took nothing: the next request gets the connection.
    const next = await budget.acquire('c');
    assert.equal(next.connection, 'c#1');
  });
});

describe('engine: HttpTransport under a connection cap (loopback mirrors)', function () {
  this.timeout(20_000);
  const fx = useFixtures();
  const body = makeArtifact(256 * KiB, 'budget');

  it('sequential requests to one mirror share one keep-alive socket', async () => {
    const mirror = await fx.mirror({ body });
    const transport = new HttpTransport({ maxConnections: 4, connectionsPerOrigin: 4 });
    fx.defer(() => transport.close());
    for (let i = 0; i < 10; i++) {
      const response = await transport.getRange(mirror.url, i * 1024, i * 1024 + 1023);
      await finishBody(response.body);
    }
    assert.equal(mirror.socketsAccepted, 1);
    assert.equal(transport.connections.peak, 1);
  });

  it('parallel requests to six mirrors under a cap of 3: every request succeeds, never more than 3 sockets open at the mirrors', async () => {
    const mirrors = await Promise.all(Array.from({ length: 6 }, () => fx.mirror({ body, bytesPerSecond: 2e6 })));
    const transport = new HttpTransport({ maxConnections: 3, connectionsPerOrigin: 4 });
    fx.defer(() => transport.close());
    let peak = 0;
    const sampler = setInterval(() => { peak = Math.max(peak, mirrors.reduce((sum, m) => sum + m.openSockets, 0)); }, 2);
    const requests = mirrors.flatMap((mirror) => [0, 1].map(async (i) => {
      const response = await transport.getRange(mirror.url, i * 32 * KiB, (i + 1) * 32 * KiB - 1);
      let bytes = 0;
      for await (const chunk of response.body) bytes += (chunk as Buffer).length;
      return bytes;
    }));
    const sizes = await Promise.all(requests);
    clearInterval(sampler);
    assert.deepEqual(sizes, Array(12).fill(32 * KiB));
    assert.ok(transport.connections.peak <= 3, `${transport.connections.peak} connections counted`);
    assert.ok(peak <= 3, `${peak} sockets open at the mirrors at once (cap 3)`);
    assert.ok(mirrors.every((m) => m.requests.length === 2));
  });
});
