/**
 * FTP replies and socket faults in the terms the scheduler acts on (TransportFailureKind).
 * RFC 959: 4yz is a transient negative completion (421 closing, 425 no data connection,
 * 426 transfer aborted, 450/451/452), 5yz permanent; a refused REST means no ranged reads.
 */
import { FTPError } from 'basic-ftp';
import { classifyNetworkError, TransportError } from '../httpTransport';
import { redactText } from '../security/redaction';

/** Replies to REST that mean "this server does not restart transfers" (not implemented / understood). */
const REST_UNSUPPORTED = new Set([500, 502, 504]);

/** What a failed FTP step means for the source. `restAt` is the offset when the step sent REST. */
export function classifyFtpFailure(error: unknown, where: string, signal?: AbortSignal, restAt = 0): TransportError {
  if (error instanceof TransportError) return error;
  if (signal?.aborted) return new TransportError('aborted', 'aborted');
  if (error instanceof FTPError) {
    const code = error.code;
    const reply = redactText(error.message.trim().slice(0, 120));
    if (code >= 400 && code < 500) return new TransportError('transient', `FTP ${reply} from ${where}`, code);
    if (code === 530 || code === 331 || code === 332) return new TransportError('permanent', `FTP login refused at ${where}: ${reply}`, code);
    if (code === 550 || code === 553) return new TransportError('permanent', `FTP file unavailable at ${where}: ${reply}`, code);
    if (restAt > 0 && REST_UNSUPPORTED.has(code)) return new TransportError('no-range', `${where} cannot restart transfers (REST answered ${reply})`, code);
    if (restAt > 0 && (code === 501 || code === 554)) {
      return new TransportError('protocol', `${where} refused to restart at byte ${restAt} (${reply}): beyond the end of its copy?`, code);
    }
    return new TransportError('permanent', `FTP ${reply} from ${where}`, code);
  }
  const message = (error as Error)?.message ?? String(error);
  // basic-ftp reports its own timeouts and a server hanging up as plain errors.
  if (/timeout|closed|FIN packet/i.test(message) && !(error as { code?: string })?.code) {
    return new TransportError('transient', `${redactText(message)} (${where})`);
  }
  const failure = classifyNetworkError(error, signal);
  return new TransportError(failure.kind, `${redactText(failure.message)} (${where})`, failure.status, failure.retryAfterMs);
}
