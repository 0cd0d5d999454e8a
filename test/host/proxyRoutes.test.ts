import * as assert from 'node:assert/strict';
import { bypassesProxy, proxySettingsFrom, withProxyRoutes } from '../../src/config/proxyRoutes';

describe('proxy routes from http.proxy / http.noProxy', () => {
  it('prefers http.proxy over the environment and merges NO_PROXY', () => {
    const settings = proxySettingsFrom({ proxy: 'http://corp:3128', strictSSL: false, noProxy: ['internal.test'] }, { HTTPS_PROXY: 'http://env:1', NO_PROXY: 'a.test, b.test' });
    assert.deepEqual(settings, { proxy: 'http://corp:3128', strictSSL: false, noProxy: ['internal.test', 'a.test', 'b.test'] });
    assert.equal(proxySettingsFrom({}, { HTTP_PROXY: 'http://env:1' }).proxy, 'http://env:1');
    assert.equal(proxySettingsFrom({}, {}).strictSSL, true);
  });

  it('bypasses loopback, listed domains with their subdomains, host:port entries and *', () => {
    assert.ok(bypassesProxy('http://127.0.0.1:8080/x', []));
    assert.ok(bypassesProxy('http://localhost/x', []));
    assert.ok(bypassesProxy('https://cdn.internal.test/x', ['internal.test']));
    assert.ok(bypassesProxy('https://cdn.internal.test/x', ['*.internal.test']));
    assert.ok(bypassesProxy('https://h.test:8443/x', ['h.test:8443']));
    assert.ok(bypassesProxy('https://any.test/x', ['*']));
    assert.ok(!bypassesProxy('https://notinternal.test/x', ['internal.test']));
    assert.ok(!bypassesProxy('https://h.test/x', ['h.test:8443']));
  });

  it('routes sources without their own proxy through the global one', () => {
    const routed = withProxyRoutes(
      [{ url: 'https://a.test/x' }, { url: 'https://b.test/x', proxy: 'http://own:1' }, { url: 'http://127.0.0.1:9/x' }],
      { proxy: 'http://corp:3128', strictSSL: true, noProxy: [] },
    );
    assert.deepEqual(routed.map((source) => source.proxy), ['http://corp:3128', 'http://own:1', undefined]);
  });
});
