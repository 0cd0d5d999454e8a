import * as assert from 'node:assert/strict';
import { hostsOfRules, parseMirrorRules, sourcesForUrl } from '../../src/config/mirrorRules';

const setting = [
  {
    prefix: 'https://releases.example.com/',
    mirrors: [
      'https://mirror.example.org/releases/',
      { url: 'https://cdn.example.net/r', priority: 2, cost: 1, location: 'DE', proxy: 'http://proxy.test:3128' },
    ],
  },
  { prefix: 'https://releases.example.com/models/', mirrors: ['http://127.0.0.1:8080/models/'] },
];

describe('mirror rules', () => {
  it('maps a URL onto every matching rule, primary first', () => {
    const { rules, problems } = parseMirrorRules(setting);
    assert.deepEqual(problems, []);
    const sources = sourcesForUrl('https://releases.example.com/models/llm.bin', rules);
    assert.deepEqual(sources, [
      { url: 'https://releases.example.com/models/llm.bin', origin: 'user' },
      { url: 'https://mirror.example.org/releases/models/llm.bin', origin: 'settings' },
      { url: 'https://cdn.example.net/r/models/llm.bin', origin: 'settings', priority: 2, cost: 1, location: 'de', proxy: 'http://proxy.test:3128' },
      { url: 'http://127.0.0.1:8080/models/llm.bin', origin: 'settings' },
    ]);
  });

  it('gives a URL no rule covers only itself', () => {
    const { rules } = parseMirrorRules(setting);
    assert.deepEqual(sourcesForUrl('https://other.example.com/x.bin', rules), [{ url: 'https://other.example.com/x.bin', origin: 'user' }]);
  });

  it('skips bad entries with a reason and keeps the rest', () => {
    const { rules, problems } = parseMirrorRules([
      { prefix: 'ftp://old.example.com/', mirrors: [] },
      { prefix: 'https://a.example.com/', mirrors: ['not a url', { url: 'https://b.example.com/', proxy: 'socks5://x' }, 'https://c.example.com/'] },
      'junk',
    ]);
    assert.equal(rules.length, 1);
    assert.deepEqual(rules[0].mirrors, [{ url: 'https://c.example.com/' }]);
    assert.equal(problems.length, 4);
    assert.match(problems[0], /mirrors\[0\]: "prefix"/);
  });

  it('accepts FTP(S) mirrors of an http(s) prefix, without a proxy or an encoding', () => {
    const { rules, problems } = parseMirrorRules([
      { prefix: 'https://a.example.com/', mirrors: ['ftp://ftp.example.com/pub/', { url: 'ftps://ftps.example.com/', priority: 2 }, { url: 'ftp://p.example.com/', proxy: 'http://proxy.example:3128' }] },
    ]);
    assert.deepEqual(rules[0].mirrors, [{ url: 'ftp://ftp.example.com/pub/' }, { url: 'ftps://ftps.example.com/', priority: 2 }]);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /FTP mirror takes no "proxy"/);
    assert.deepEqual(sourcesForUrl('https://a.example.com/x.bin', rules).map((s) => s.url), ['https://a.example.com/x.bin', 'ftp://ftp.example.com/pub/x.bin', 'ftps://ftps.example.com/x.bin']);
  });

  it('treats a missing setting as no rules and a non-array as one problem', () => {
    assert.deepEqual(parseMirrorRules(undefined), { rules: [], problems: [] });
    assert.equal(parseMirrorRules({}).problems.length, 1);
  });

  it('lists every host the rules name', () => {
    const { rules } = parseMirrorRules(setting);
    assert.deepEqual([...hostsOfRules(rules)].sort(), ['127.0.0.1:8080', 'cdn.example.net', 'mirror.example.org', 'releases.example.com']);
  });

  it('carries a mirror\'s local address as a route, and the same mirror from two addresses as two sources', () => {
    const { rules, problems } = parseMirrorRules([
      {
        prefix: 'https://releases.example.com/',
        mirrors: [
          { url: 'https://cdn.example.net/', localAddress: '192.0.2.10' },
          { url: 'https://cdn.example.net/', localAddress: '192.0.2.11' },
          { url: 'https://cdn.example.net/', localAddress: '192.0.2.11' },
          { url: 'https://bad.example.net/', localAddress: 'eth0' },
        ],
      },
    ]);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /mirrors\[3\]: "localAddress" must be an IP address/);
    assert.deepEqual(sourcesForUrl('https://releases.example.com/a.iso', rules), [
      { url: 'https://releases.example.com/a.iso', origin: 'user' },
      { url: 'https://cdn.example.net/a.iso', origin: 'settings', localAddress: '192.0.2.10' },
      { url: 'https://cdn.example.net/a.iso', origin: 'settings', localAddress: '192.0.2.11' },
    ]);
  });

  it('maps a gzip mirror onto the compressed copy next to the file', () => {
    const { rules, problems } = parseMirrorRules([
      { prefix: 'https://releases.example.com/', mirrors: [{ url: 'https://gz.example.net/', encoding: 'gzip' }, { url: 'https://x.example.net/', encoding: 'brotli' }] },
    ]);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /"encoding" must be "gzip"/);
    assert.deepEqual(sourcesForUrl('https://releases.example.com/a.iso', rules)[1], { url: 'https://gz.example.net/a.iso.gz', origin: 'settings', encoding: 'gzip' });
  });
});
