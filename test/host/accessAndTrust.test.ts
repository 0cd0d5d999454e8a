import * as assert from 'node:assert/strict';
import { parseDownloadLink } from '../../src/config/downloadLink';
import { hostsNeedingConsent } from '../../src/config/hostTrust';
import { normalizeOrigin, originHeadersFor } from '../../src/config/originHeaders';

describe('access tokens per origin', () => {
  it('normalizes what the user types into an exact origin', () => {
    assert.equal(normalizeOrigin('huggingface.co'), 'https://huggingface.co');
    assert.equal(normalizeOrigin('https://huggingface.co/models/x'), 'https://huggingface.co');
    assert.equal(normalizeOrigin('http://127.0.0.1:8080'), 'http://127.0.0.1:8080');
    assert.equal(normalizeOrigin('ftp://x'), undefined);
    assert.equal(normalizeOrigin('  '), undefined);
  });

  it('builds Authorization headers keyed by exact origin, only for origins with a token', async () => {
    const tokens: Record<string, string> = { 'https://a.test': 'tok-a' };
    const headers = await originHeadersFor(
      [{ url: 'https://a.test/x' }, { url: 'https://a.test:8443/x' }, { url: 'http://a.test/x' }, { url: 'https://b.test/x' }],
      async (origin) => tokens[origin],
    );
    assert.deepEqual(headers, { 'https://a.test': { Authorization: 'Bearer tok-a' } });
    assert.equal(await originHeadersFor([{ url: 'https://b.test/x' }], async () => undefined), undefined);
  });
});

describe('host consent', () => {
  it('asks only for hosts neither in user settings nor confirmed before, once each', () => {
    const needed = hostsNeedingConsent(
      ['https://user.test/a', 'https://new.test/a', 'https://new.test/b', 'https://seen.test/a', 'https://NEW.test:8443/a'],
      new Set(['user.test']),
      new Set(['seen.test']),
    );
    assert.deepEqual(needed, ['new.test', 'new.test:8443']);
  });
});

describe('download links (vscode://…/download?url=…)', () => {
  it('reads url, repeated mirror and sha256', () => {
    const sha = 'AB'.repeat(32);
    const link = parseDownloadLink('/download', `url=${encodeURIComponent('https://a.test/x.bin')}&mirror=https://m1.test/x.bin&mirror=https://m2.test/x.bin&sha256=${sha}`);
    assert.deepEqual(link, { url: 'https://a.test/x.bin', mirrors: ['https://m1.test/x.bin', 'https://m2.test/x.bin'], sha256: sha.toLowerCase() });
  });

  it('refuses other paths, schemes and malformed hashes', () => {
    assert.throws(() => parseDownloadLink('/install', 'url=https://a.test/x'), /unknown link path/);
    assert.throws(() => parseDownloadLink('/download', 'url=file:///etc/passwd'), /not an http/);
    assert.throws(() => parseDownloadLink('/download', 'url=https://a.test/x&mirror=javascript:alert(1)'), /mirror 1/);
    assert.throws(() => parseDownloadLink('/download', 'url=https://a.test/x&sha256=abc'), /64 hex/);
    assert.throws(() => parseDownloadLink('/download', ''), /no url/);
  });
});
