/**
 * A minimal HTTP CONNECT proxy on loopback, the kind undici's ProxyAgent tunnels through. It
 * records every tunnel it opens and the bytes it carried, so tests can prove a route was used.
 * With `bytesPerSecond` every tunnel shares one downstream cap (a slow route to a fast origin).
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { TokenBucket } from './tokenBucket';

export interface ConnectProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `host:port` targets of the tunnels opened so far. */
  readonly tunnels: string[];
  /** Bytes carried from targets to clients. */
  readonly bytesDown: number;
  close(): Promise<void>;
}

export async function startConnectProxy(options: { host?: string; bytesPerSecond?: number } = {}): Promise<ConnectProxy> {
  const bucket = options.bytesPerSecond ? new TokenBucket(options.bytesPerSecond) : undefined;
  const tunnels: string[] = [];
  const sockets = new Set<net.Socket>();
  let bytesDown = 0;
  const server = http.createServer((_req, res) => {
    res.writeHead(405).end('CONNECT only');
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const target = req.url ?? '';
    const [host, port] = target.split(':');
    tunnels.push(target);
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.on('data', (chunk: Buffer) => { bytesDown += chunk.length; });
      if (bucket) void throttledPipe(upstream, client, bucket);
      else upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => { client.destroy(); upstream.destroy(); });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    tunnels,
    get bytesDown() {
      return bytesDown;
    },
    close: async () => {
      bucket?.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Copies `from` to `to`, each chunk only after the shared bucket granted its bytes. */
async function throttledPipe(from: net.Socket, to: net.Socket, bucket: TokenBucket): Promise<void> {
  try {
    for await (const chunk of from as AsyncIterable<Buffer>) {
      for (let offset = 0; offset < chunk.length;) {
        const granted = await bucket.take(chunk.length - offset);
        if (granted === 0 || to.destroyed) return;
        const part = chunk.subarray(offset, offset + granted);
        offset += granted;
        if (!to.write(part)) await new Promise((resolve) => { to.once('drain', resolve); to.once('close', resolve); });
      }
    }
    to.end();
  } catch {
    to.destroy();
  }
}
