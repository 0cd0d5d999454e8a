/**
 * Opening the data connection. EPSV first (RFC 2428: it names only a port), PASV when the server
 * refuses EPSV. Either way the data connection goes to the control connection's peer address: the
 * address in a PASV reply is ignored, never dialled (RELIABILITY T11, curl CVE-2020-8284), because
 * a hostile or NATed server could point us at any host, including our own network.
 */
import { FTPError, type FTPContext, type FTPResponse } from 'basic-ftp';
import { connectForPassiveTransfer, parseEpsvResponse, parsePasvResponse } from 'basic-ftp/dist/transfer';

/** A basic-ftp TransferStrategy (`client.prepareTransfer`). */
export type PassiveModeStrategy = (ftp: FTPContext) => Promise<FTPResponse>;

/** Observes what the strategy decided, for the job's log and the tests. */
export interface PassiveModeEvents {
  /** The server refused EPSV; this session uses PASV from now on. */
  onEpsvRefused?(reply: string): void;
  /** A PASV reply named another host; we connected to the control peer instead. */
  onPasvHostIgnored?(advertised: string, used: string): void;
}

/**
 * A fresh strategy for one session (it remembers a refused EPSV so later transfers on that
 * session go straight to PASV).
 */
export function passiveModeAtControlPeer(events: PassiveModeEvents = {}): PassiveModeStrategy {
  let epsvRefused = false;
  return async (ftp) => {
    const peer = controlPeer(ftp);
    if (!epsvRefused) {
      try {
        const reply = await ftp.request('EPSV');
        await connectForPassiveTransfer(peer, parseEpsvResponse(reply.message), ftp);
        return reply;
      } catch (error) {
        // 5xx (not implemented, not understood, 522 protocol not supported) or an unparsable reply:
        // fall back to PASV. A 4xx (421 closing, 425) is a transient fault of the server: retry later.
        const refused = (error instanceof FTPError && error.code >= 500) || /parse/i.test((error as Error).message);
        if (!refused) throw error;
        epsvRefused = true;
        events.onEpsvRefused?.((error as Error).message);
      }
    }
    const reply = await ftp.request('PASV');
    const advertised = parsePasvResponse(reply.message);
    if (advertised.host !== peer) events.onPasvHostIgnored?.(advertised.host, peer);
    await connectForPassiveTransfer(peer, advertised.port, ftp);
    return reply;
  };
}

/** The control connection's remote IP, without the IPv4-mapped IPv6 prefix. */
function controlPeer(ftp: FTPContext): string {
  const address = ftp.socket.remoteAddress;
  if (!address) throw new Error('the control connection is closed');
  return address.replace(/^::ffff:/i, '');
}
