import * as assert from 'node:assert/strict';
import { ErrorCode, FetchError } from '../../src/engine/errors';
import {
  REDACTED,
  clearRegisteredSecrets,
  redactHeaders,
  redactText,
  redactUrl,
  registerSecret,
} from '../../src/engine/security/redaction';

const CANARY = 'cnry_7f3a9c2e1b4d8f60a5e2';

describe('redaction', () => {
  afterEach(() => clearRegisteredSecrets());

  it('redactUrl keeps scheme://host:port/path and marks a removed query', () => {
    assert.equal(redactUrl(`https://user:${CANARY}@files.example:8443/a/b.iso?X-Amz-Signature=${CANARY}&x=1#frag`), 'https://files.example:8443/a/b.iso?…');
    assert.equal(redactUrl('http://h.example/p'), 'http://h.example/p');
    assert.equal(redactUrl('http://h.example/p#only-fragment'), 'http://h.example/p');
    assert.equal(redactUrl(`ftp://${CANARY}@h.example/f`), 'ftp://h.example/f');
    assert.ok(!redactUrl(`not a url token=${CANARY}`).includes(CANARY));
  });

  it('redactHeaders hides credential headers by name and scrubs the rest', () => {
    const input = {
      Authorization: `Bearer ${CANARY}`,
      'proxy-authorization': `Basic ${CANARY}`,
      Cookie: `sid=${CANARY}`,
      'set-cookie': [`a=${CANARY}`, 'b=2'],
      'X-Api-Key': CANARY,
      'Private-Token': CANARY,
      'X-Amz-Security-Token': CANARY,
      'X-Client-Secret': CANARY,
      'X-Auth-Thing': CANARY,
      Location: `https://cdn.example/f?sig=${CANARY}`,
      'Content-Length': 42,
      Accept: 'application/octet-stream',
    };
    const out = redactHeaders(input);
    assert.ok(!JSON.stringify(out).includes(CANARY), JSON.stringify(out));
    assert.equal(out.Authorization, REDACTED);
    assert.equal(out['set-cookie'], REDACTED);
    assert.equal(out.Location, 'https://cdn.example/f?…');
    assert.equal(out['Content-Length'], '42');
    assert.equal(out.Accept, 'application/octet-stream');
  });

  it('redactText removes the canary in every shape it was seen in', () => {
    const shapes = [
      `GET https://u:${CANARY}@h.example/x?token=${CANARY} failed`,
      `Authorization: Bearer ${CANARY}`,
      `authorization: Basic ${CANARY}`,
      `bearer ${CANARY}`,
      `request failed: token=${CANARY}&other=1`,
      `{"access_token": "${CANARY}", "n": 1}`,
      `password=${CANARY}`,
      `api_key: ${CANARY}`,
      `Cookie: session=${CANARY}; theme=dark`,
      `Private-Token: ${CANARY}`,
      `see <https://h.example/p?X-Amz-Credential=${CANARY}>`,
    ];
    for (const text of shapes) {
      const out = redactText(text);
      assert.ok(!out.includes(CANARY), `${text} -> ${out}`);
    }
    assert.equal(redactText('downloaded 3 pieces from https://m.example/f.iso in 2 s'), 'downloaded 3 pieces from https://m.example/f.iso in 2 s');
  });

  it('registered and given secrets are scrubbed everywhere, raw and encoded', () => {
    const secret = 'p@ss word/x+y';
    assert.ok(redactText(`opaque ${secret} here`).includes(secret), 'not registered yet');
    assert.ok(!redactText(`opaque ${secret} here`, [secret]).includes(secret));
    registerSecret(secret);
    registerSecret(CANARY);
    const texts = [
      `server said: bad value ${CANARY}`,
      `path /dl/${CANARY}/file.bin`,
      `encoded ${encodeURIComponent(secret)} in a query`,
      `raw ${secret}`,
    ];
    for (const text of texts) {
      const out = redactText(text);
      assert.ok(!out.includes(CANARY) && !out.includes(secret) && !out.includes(encodeURIComponent(secret)), out);
    }
    assert.ok(!redactUrl(`https://h.example/dl/${CANARY}/f`).includes(CANARY));
    assert.ok(!JSON.stringify(redactHeaders({ 'X-Custom': `v ${CANARY}` })).includes(CANARY));
    const error = new FetchError(ErrorCode.NoUsableSource, redactText(`all sources failed: https://h.example/f?k=${CANARY} said ${CANARY}`));
    assert.ok(!error.message.includes(CANARY));
  });

  it('short secrets are not scrubbed from free text', () => {
    registerSecret('ab');
    assert.equal(redactText('about a tab'), 'about a tab');
  });
});
