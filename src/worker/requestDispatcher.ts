import { ErrorCode, toFetchError } from '../engine/errors';
import { redactText } from '../engine/security/redaction';
import {
  isRequestMessage,
  type ParamsOf,
  type ResultOf,
  type WorkerMethod,
  type WorkerToHostMessage,
} from '../protocol/messages';

/** One handler per worker method; each may answer synchronously or with a promise. */
export type RequestHandlers = {
  [M in WorkerMethod]: (params: ParamsOf<M>) => ResultOf<M> | Promise<ResultOf<M>>;
};

/**
 * Turns host requests into handler calls and handler outcomes into exactly one response each.
 * Every failure leaves as a {code, message} pair with the message redacted.
 */
export class RequestDispatcher {
  constructor(
    private readonly post: (message: WorkerToHostMessage) => void,
    private readonly handlers: RequestHandlers,
  ) {}

  /** Handles one raw message from the host; malformed ones are logged and dropped. */
  async dispatch(message: unknown): Promise<void> {
    if (!isRequestMessage(message)) {
      this.post({ type: 'log', level: 'warn', message: 'worker ignored a message that is not a known request' });
      return;
    }
    const { requestId, method, params } = message;
    try {
      const handler = this.handlers[method] as (params: unknown) => unknown;
      const result = await handler(params);
      this.post({ type: 'response', requestId, ok: true, result: result ?? null });
    } catch (error) {
      const failure = toFetchError(error, ErrorCode.Internal);
      this.post({ type: 'response', requestId, ok: false, error: { code: failure.code, message: redactText(failure.message) } });
    }
  }
}
