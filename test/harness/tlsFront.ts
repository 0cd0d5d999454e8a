/**
 * A TLS terminator on loopback: accepts HTTPS with the given certificate and forwards the
 * plaintext to a plain loopback server (usually a `startMirror`), so every mirror fault and its
 * request log work over TLS too. Counts handshakes that failed (the client refused the
 * certificate) and the plaintext bytes that went back to clients.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { TestCertificate } from './testCa';

export interface TlsFront {
  readonly host: string;
  readonly port: number;
  /** `https://host:port`. */
  readonly origin: string;
  /** TLS sessions established. */
  readonly handshakes: number;
  /** Handshakes that failed (e.g. the client rejected the certificate). */
  readonly failedHandshakes: number;
  /** Plaintext bytes forwarded from the target to clients, after a completed handshake. */
  readonly bytesDown: number;
  url(path?: string): string;
  close(): Promise<void>;
}

/** Starts a TLS front for `target` (`{host, port}` of a plain HTTP server). */
export async function startTlsFront(target: { host: string; port: number }, certificate: TestCertificate, options: { host?: string } = {}): Promise<TlsFront> {
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<net.Socket>();
  let handshakes = 0;
  let failedHandshakes = 0;
  let bytesDown = 0;
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  const server = tls.createServer({ key: certificate.key, cert: certificate.cert }, (client) => {
    handshakes++;
    track(client);
    const upstream = net.connect(target);
    track(upstream);
    upstream.on('data', (chunk: Buffer) => { bytesDown += chunk.length; });
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  server.on('connection', (socket: net.Socket) => track(socket));
  server.on('tlsClientError', () => { failedHandshakes++; });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const origin = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    host,
    port,
    origin,
    get handshakes() { return handshakes; },
    get failedHandshakes() { return failedHandshakes; },
    get bytesDown() { return bytesDown; },
    url: (p = '/artifact.bin') => `${origin}${p.startsWith('/') ? p : `/${p}`}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    }),
  };
}
