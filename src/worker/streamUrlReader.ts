/**
 * Reads a stream URL of the worker's loopback endpoint as a Node Readable, for the extension API's
 * `openStream(id)`. No vscode import: the same code runs in the extension host and in tests.
 */
import * as http from 'node:http';
import type { Readable } from 'node:stream';
import { ErrorCode, FetchError } from '../engine/errors';

/**
 * Resolves with the response body (bytes in order, as they verify) once the endpoint answered
 * 200; the Readable errors if the download fails before its last byte (the endpoint cuts the
 * response short). Rejects on any other answer.
 */
export function readStreamUrl(url: string): Promise<Readable> {
  return new Promise((resolve, reject) => {
    // No agent: a stream may stay open for the whole download and must not hold a pooled socket.
    const request = http.get(url, { agent: false }, (response) => {
      if (response.statusCode === 200) {
        resolve(response);
        return;
      }
      response.resume();
      reject(new FetchError(ErrorCode.BadArguments, `the stream endpoint answered ${response.statusCode}`));
    });
    request.once('error', (error) => reject(new FetchError(ErrorCode.Internal, `the stream endpoint cannot be reached: ${error.message}`)));
  });
}
