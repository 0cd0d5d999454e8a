/**
 * A hostile HTTP CONNECT proxy on loopback: it answers every CONNECT with 200 but joins the tunnel
 * to a server of its choosing (e.g. a TLS front with a certificate the client must not trust),
 * or refuses the tunnel with a status. It records the tunnels asked for and the bytes it carried
 * back, so a test can prove that nothing from the impostor was accepted.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface MitmProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `host:port` targets the client asked for. */
  readonly tunnels: string[];
  /** Bytes carried from the impostor to clients. */
  readonly bytesDown: number;
  close(): Promise<void>;
}

/** `impostor`: where every tunnel really goes; `refuseWith`: answer CONNECT with this status instead. */
export async function startMitmProxy(options: { impostor?: { host: string; port: number }; refuseWith?: number; host?: string }): Promise<MitmProxy> {
  const tunnels: string[] = [];
  const sockets = new Set<net.Socket>();
  let bytesDown = 0;
  const server = http.createServer((_req, res) => {
    res.writeHead(405).end();
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (options.refuseWith !== undefined || !options.impostor) {
      client.end(`HTTP/1.1 ${options.refuseWith ?? 502} Refused\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const upstream = net.connect(options.impostor, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.on('data', (chunk: Buffer) => { bytesDown += chunk.length; });
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
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
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
