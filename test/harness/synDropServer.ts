/**
 * A loopback port where TCP connects never complete: a child process listens with a backlog of 1
 * and never accepts (its event loop is blocked), and a few filler connections fill the accept
 * queue, so the kernel drops every later SYN. A client sees a real connect timeout, not a
 * connection that is open and silent (use the fault proxy's 'blackhole' for that).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';

export interface SynDropServer {
  readonly host: string;
  readonly port: number;
  url(path?: string): string;
  close(): Promise<void>;
}

const CHILD = `
const net = require('node:net');
const fs = require('node:fs');
const server = net.createServer();
server.listen({ port: 0, host: process.argv[1], backlog: 1 }, () => {
  fs.writeSync(1, server.address().port + '\\n');
  // Never return to the event loop: nothing is ever accepted.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
});
`;

export async function startSynDropServer(host = '127.0.0.1'): Promise<SynDropServer> {
  const child: ChildProcess = spawn(process.execPath, ['-e', CHILD, host], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the SYN-drop listener did not start')), 10_000);
    child.stdout!.setEncoding('utf8').once('data', (text: string) => {
      clearTimeout(timer);
      resolve(Number(text.trim()));
    });
    child.once('error', reject);
  });
  // Fill the accept queue; these never get accepted either.
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const socket = net.connect({ host, port });
    socket.on('error', () => undefined);
    fillers.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  return {
    host,
    port,
    url: (path = '/artifact.bin') => `http://${host}:${port}${path}`,
    close: async () => {
      for (const socket of fillers) socket.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
