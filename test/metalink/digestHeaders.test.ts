import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { sha256FromDigest, sha256FromHeaders, sha256FromReprDigest } from '../../src/engine/headers/digestHeaders';

const body = Buffer.from('hello world');
const hex = createHash('sha256').update(body).digest('hex');
const b64 = Buffer.from(hex, 'hex').toString('base64');
const otherB64 = createHash('sha256').update('other').digest('base64');

describe('digestHeaders', () => {
  it('reads RFC 3230 Digest', () => {
    assert.equal(sha256FromDigest(`SHA-256=${b64}`), hex);
    assert.equal(sha256FromDigest(`MD5=HUXZLQLMuI/KZ5KDcJPcOA==, sha-256=${b64}`), hex);
    assert.equal(sha256FromDigest([`md5=x`, `SHA-256=${b64}`]), hex);
    assert.equal(sha256FromDigest('MD5=HUXZLQLMuI/KZ5KDcJPcOA=='), undefined);
    assert.equal(sha256FromDigest(undefined), undefined);
  });

  it('reads RFC 9530 Repr-Digest', () => {
    assert.equal(sha256FromReprDigest(`sha-256=:${b64}:`), hex);
    assert.equal(sha256FromReprDigest(`sha-512=:${Buffer.alloc(64).toString('base64')}:, sha-256=:${b64}:`), hex);
    assert.equal(sha256FromReprDigest(`sha-256=:${b64}:;param=1`), hex);
  });

  it('rejects malformed values and wrong lengths', () => {
    const short = Buffer.alloc(31).toString('base64');
    const long = Buffer.alloc(33).toString('base64');
    for (const value of [`SHA-256=${short}`, `SHA-256=${long}`, 'SHA-256=', 'SHA-256=not base64!', `SHA-256=${b64.slice(0, -1)}`, `SHA-256=${hex}`]) {
      assert.equal(sha256FromDigest(value), undefined, value);
    }
    for (const value of [`sha-256=${b64}`, `sha-256=:${short}:`, `sha-256=:${long}:`, 'sha-256=::', `sha-256=:${b64}`, `SHA-256=:${b64}:`, `sha-256=:${b64.replace(/=$/, '')}:`]) {
      assert.equal(sha256FromReprDigest(value), undefined, value);
    }
  });

  it('refuses ambiguity: two different sha-256 values', () => {
    assert.equal(sha256FromDigest(`SHA-256=${b64}, SHA-256=${otherB64}`), undefined);
    assert.equal(sha256FromReprDigest(`sha-256=:${b64}:, sha-256=:${otherB64}:`), undefined);
  });

  it('sha256FromHeaders prefers Repr-Digest and ignores header-name case', () => {
    assert.equal(sha256FromHeaders({ 'Repr-Digest': `sha-256=:${b64}:`, Digest: `SHA-256=${otherB64}` }), hex);
    assert.equal(sha256FromHeaders({ digest: `SHA-256=${b64}` }), hex);
    assert.equal(sha256FromHeaders({ 'content-digest': `sha-256=:${b64}:` }), undefined);
  });
});
