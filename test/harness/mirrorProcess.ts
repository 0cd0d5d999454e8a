/**
 * A mirror in a process of its own (bench/mirrorProcess.js), serving a file: for measurements of
 * the client's process or event loop that must not include the mirror's own work (event-loop
 * lag of a host, peak RSS of a CLI at full loopback speed).
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export interface ProcessMirror {
  readonly url: string;
  readonly size: number;
  readonly pid: number;
  stats(): Promise<{ bytesServed: number; requests: number; socketsAccepted: number; peakOpenSockets: number }>;
  close(): Promise<void>;
}

const SCRIPT = path.join(__dirname, '../../bench/mirrorProcess.js');

export async function startProcessMirror(config: { file: string; host?: string; bytesPerSecond?: number; latencyMs?: number }): Promise<ProcessMirror> {
  const child: ChildProcess = fork(SCRIPT, [JSON.stringify(config)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const ready = await new Promise<{ port: number; size: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the mirror process did not start')), 10_000);
    child.once('error', reject);
    child.on('message', (message: { type?: string; port?: number; size?: number }) => {
      if (message?.type === 'ready') {
        clearTimeout(timer);
        resolve({ port: message.port!, size: message.size! });
      }
    });
  });
  const host = config.host ?? '127.0.0.1';
  return {
    url: `http://${host}:${ready.port}/${path.basename(config.file)}`,
    size: ready.size,
    pid: child.pid!,
    stats: () => new Promise((resolve) => {
      const onMessage = (message: { type?: string; bytesServed: number; requests: number; socketsAccepted: number; peakOpenSockets: number }): void => {
        if (message?.type !== 'stats') return;
        child.off('message', onMessage);
        resolve(message);
      };
      child.on('message', onMessage);
      child.send({ type: 'stats' });
    }),
    close: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}
