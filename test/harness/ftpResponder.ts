/**
 * A scripted FTP server speaking just enough of RFC 959/2428/3659 to serve one file, with the
 * faults of RELIABILITY S14, S15 and T11: REST refused, a garbage SIZE, data closed early while the
 * control connection still says 226, 4xx replies on any command, EPSV refused, and PASV replies
 * naming another address (with a trap listener there that counts who connects); and FTPS
 * (explicit TLS: AUTH TLS, PROT P) with Node's TLS, since pyftpdlib 1.5.7 with pyOpenSSL 23 on
 * Debian 12 resets its TLS data connections. Loopback only: control and data listen on 127.0.0.1.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';

/** One scripted reply: answer `command` with `reply` the first `times` times it is received. */
export interface ScriptedReply {
  command: string;
  reply: string;
  times?: number;
  /** Close the control connection after the reply (what a 421 means). */
  hangUp?: boolean;
}

export interface FtpResponderOptions {
  /** The one file; any path names it. */
  body: Buffer;
  /** REST answers `502 Command not implemented`. */
  refuseRest?: boolean;
  /** The SIZE reply (default `213 <size>`), e.g. `213 abc`. */
  sizeReply?: string;
  /** EPSV answers `500 EPSV not understood`. */
  refuseEpsv?: boolean;
  /** The address a PASV reply names (default 127.0.0.1); a trap listens there on the same port. */
  pasvHost?: string;
  /**
   * `times` transfers, after the first `skipTransfers` (e.g. the probe), close their data
   * connection after `afterBytes`, then say 226.
   */
  truncateData?: { afterBytes: number; times: number; skipTransfers?: number };
  /** Replies that override the normal ones. */
  script?: ScriptedReply[];
  /** Bytes per second per transfer (0 = as fast as possible). */
  bytesPerSecond?: number;
  /** Key and certificate for FTPS: AUTH TLS upgrades the control connection, PROT P the data. */
  tls?: { key: string; cert: string };
}

export interface FtpResponderCommand {
  session: number;
  cmd: string;
  arg: string;
}

export interface FtpResponder {
  readonly port: number;
  /** `ftp://127.0.0.1:<port>/artifact.bin` (`ftps://` with `tls`). */
  readonly url: string;
  readonly commands: FtpResponderCommand[];
  /** Control connections accepted. */
  sessions: number;
  /** Most control connections open at once. */
  peakSessions: number;
  /** Connections made to the trap at `pasvHost` (must stay 0). */
  trapConnections: number;
  /** Offsets of the transfers started (RETR after REST n → n). */
  readonly transfers: Array<{ offset: number; bytesSent: number; aborted: boolean }>;
  close(): Promise<void>;
}

const MDTM = '20240101120000';

export async function startFtpResponder(options: FtpResponderOptions): Promise<FtpResponder> {
  const { body } = options;
  const script = (options.script ?? []).map((s) => ({ ...s, left: s.times ?? 1 }));
  const sockets = new Set<net.Socket>();
  const listeners: net.Server[] = [];
  let truncationsLeft = options.truncateData?.times ?? 0;
  let transfersToSkip = options.truncateData?.skipTransfers ?? 0;
  let open = 0;

  const state: FtpResponder = {
    port: 0,
    url: '',
    commands: [],
    sessions: 0,
    peakSessions: 0,
    trapConnections: 0,
    transfers: [],
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all(listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve()))));
    },
  };

  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };

  const listen = (server: net.Server, host: string, port = 0): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        listeners.push(server);
        resolve((server.address() as net.AddressInfo).port);
      });
    });

  /** A passive data listener; with a spoofed PASV host, the same port is trapped there. */
  const openPassive = async (spoofHost?: string): Promise<{ port: number; connection: Promise<net.Socket> }> => {
    const data = net.createServer();
    data.on('connection', track);
    let port: number;
    for (let attempt = 0; ; attempt++) {
      if (!spoofHost) {
        port = await listen(data, '127.0.0.1');
        break;
      }
      const trap = net.createServer((socket) => {
        state.trapConnections++;
        track(socket);
        socket.destroy();
      });
      const trapPort = await listen(trap, spoofHost);
      try {
        port = await listen(data, '127.0.0.1', trapPort);
        break;
      } catch (error) {
        if (attempt > 20) throw error;
      }
    }
    const connection = new Promise<net.Socket>((resolve) => data.once('connection', (socket) => {
      data.close();
      resolve(socket);
    }));
    return { port, connection };
  };

  const control = net.createServer((socket) => {
    track(socket);
    const session = ++state.sessions;
    open++;
    state.peakSessions = Math.max(state.peakSessions, open);
    socket.on('close', () => open--);
    let restAt = 0;
    let passive: { port: number; connection: Promise<net.Socket> } | undefined;
    let transfer: { data: net.Socket; record: { aborted: boolean } } | undefined;
    let buffered = '';
    let io: net.Socket = socket;
    let protectData = false;
    const reply = (line: string): void => {
      if (!io.destroyed) io.write(`${line}\r\n`);
    };
    reply('220 scripted FTP responder');

    const handle = async (cmd: string, arg: string): Promise<void> => {
      state.commands.push({ session, cmd, arg: cmd === 'PASS' ? '' : arg });
      const scripted = script.find((s) => s.command === cmd && s.left > 0);
      if (scripted) {
        scripted.left--;
        reply(scripted.reply);
        if (scripted.hangUp) io.end();
        return;
      }
      switch (cmd) {
        case 'AUTH': {
          if (!options.tls || !/^TLS|SSL$/i.test(arg)) return reply('502 AUTH not supported');
          reply('234 AUTH TLS ok');
          socket.off('data', onData);
          io = new tls.TLSSocket(socket, { isServer: true, key: options.tls.key, cert: options.tls.cert });
          io.setEncoding('latin1');
          io.on('data', onData);
          io.on('error', () => undefined);
          return;
        }
        case 'PBSZ': return reply('200 PBSZ=0');
        case 'PROT':
          protectData = arg.toUpperCase() === 'P';
          return reply('200 protection level set');
        case 'USER': return reply('331 password please');
        case 'PASS': return reply('230 logged in');
        case 'TYPE': case 'STRU': case 'OPTS': return reply('200 ok');
        case 'PWD': return reply('257 "/"');
        case 'SIZE': return reply(options.sizeReply ?? `213 ${body.length}`);
        case 'MDTM': return reply(`213 ${MDTM}`);
        case 'REST':
          if (options.refuseRest) return reply('502 REST not implemented');
          restAt = Number(arg);
          return reply(`350 restarting at ${restAt}`);
        case 'EPSV': {
          if (options.refuseEpsv) return reply('500 EPSV not understood');
          passive = await openPassive();
          return reply(`229 Entering Extended Passive Mode (|||${passive.port}|)`);
        }
        case 'PASV': {
          const host = options.pasvHost ?? '127.0.0.1';
          passive = await openPassive(host === '127.0.0.1' ? undefined : host);
          const h = host.split('.').join(',');
          return reply(`227 Entering Passive Mode (${h},${passive.port >> 8},${passive.port & 255})`);
        }
        case 'RETR': {
          if (!passive) return reply('425 use PASV first');
          const offset = restAt;
          restAt = 0;
          const pending = passive;
          passive = undefined;
          if (offset > body.length) return reply('554 invalid REST parameter');
          let data = await pending.connection;
          if (protectData && options.tls) {
            const secure = new tls.TLSSocket(data, { isServer: true, key: options.tls.key, cert: options.tls.cert });
            secure.on('error', () => undefined);
            data = secure;
            reply('150 opening BINARY data connection');
            await new Promise<void>((resolve) => { secure.once('secure', resolve); secure.once('close', resolve); });
          } else {
            reply('150 opening BINARY data connection');
          }
          const record = { offset, bytesSent: 0, aborted: false };
          state.transfers.push(record);
          transfer = { data, record };
          let end = body.length;
          if (transfersToSkip > 0) transfersToSkip--;
          else if (truncationsLeft > 0) {
            truncationsLeft--;
            end = Math.min(end, offset + options.truncateData!.afterBytes);
          }
          await send(data, body.subarray(offset, end), record, options.bytesPerSecond ?? 0);
          transfer = undefined;
          if (record.aborted) return;
          // The data connection is closed early (truncated) or at the end: either way, 226.
          data.end();
          return reply('226 transfer complete');
        }
        case 'ABOR':
          if (transfer) {
            transfer.record.aborted = true;
            transfer.data.destroy();
            transfer = undefined;
            reply('426 transfer aborted');
            return reply('226 ABOR successful');
          }
          return reply('225 no transfer to abort');
        case 'QUIT':
          reply('221 bye');
          io.end();
          return;
        default:
          return reply('502 command not implemented');
      }
    };

    // Commands run one at a time, except ABOR, which must reach a running RETR.
    let queue = Promise.resolve();
    socket.setEncoding('latin1');
    const onData = (chunk: string): void => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 2);
        const space = line.indexOf(' ');
        const cmd = (space < 0 ? line : line.slice(0, space)).toUpperCase();
        const arg = space < 0 ? '' : line.slice(space + 1);
        if (cmd === 'ABOR') void handle(cmd, arg);
        else queue = queue.then(() => handle(cmd, arg)).catch(() => undefined);
      }
    };
    socket.on('data', onData);
  });
  const port = await listen(control, '127.0.0.1');
  Object.assign(state, { port, url: `${options.tls ? 'ftps' : 'ftp'}://127.0.0.1:${port}/artifact.bin` });
  return state;
}

/** Writes `bytes` with backpressure (and an optional rate), stopping if the socket goes away. */
async function send(socket: net.Socket, bytes: Buffer, record: { bytesSent: number; aborted: boolean }, bytesPerSecond: number): Promise<void> {
  const chunk = bytesPerSecond > 0 ? Math.max(1024, Math.floor(bytesPerSecond / 20)) : 256 * 1024;
  for (let at = 0; at < bytes.length && !record.aborted && !socket.destroyed; at += chunk) {
    const part = bytes.subarray(at, at + chunk);
    const drained = socket.write(part);
    record.bytesSent += part.length;
    if (!drained) await new Promise<void>((resolve) => { socket.once('drain', resolve); socket.once('close', resolve); });
    if (bytesPerSecond > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
