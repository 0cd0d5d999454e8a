import * as assert from 'node:assert/strict';
import { isRequestMessage, isWorkerToHostMessage } from '../../src/protocol/messages';

describe('protocol messages', () => {
  it('accepts well-formed requests and rejects unknown methods or missing ids', () => {
    assert.ok(isRequestMessage({ type: 'request', requestId: 1, method: 'pauseJob', params: { jobId: 'a' } }));
    assert.ok(!isRequestMessage({ type: 'request', requestId: 1, method: 'rmRf', params: {} }));
    assert.ok(!isRequestMessage({ type: 'request', method: 'pauseJob', params: {} }));
    assert.ok(!isRequestMessage({ type: 'request', requestId: 1, method: 'pauseJob' }));
    assert.ok(!isRequestMessage(null));
  });

  it('recognises every worker message type', () => {
    for (const type of ['ready', 'response', 'snapshot', 'jobEvent', 'jobResult', 'log']) assert.ok(isWorkerToHostMessage({ type }), type);
    assert.ok(!isWorkerToHostMessage({ type: 'request' }));
    assert.ok(!isWorkerToHostMessage('snapshot'));
  });
});
