import * as assert from 'node:assert/strict';
import { parseLinkMirrors } from '../../src/engine/headers/linkMirrors';

const BASE = 'https://origin.example/pub/dir/file.iso';

describe('linkMirrors (RFC 6249)', () => {
  it('parses rel=duplicate links with pri, geo, pref and depth', () => {
    const header = '<http://m1.example/file.iso>; rel=duplicate; pri=1; geo=DE; pref, '
      + '<https://m2.example/a,b;c.iso>; rel="duplicate"; pri="2"; depth=3';
    assert.deepEqual(parseLinkMirrors(header, BASE), [
      { url: 'http://m1.example/file.iso', priority: 1, geo: 'de', pref: true },
      { url: 'https://m2.example/a,b;c.iso', priority: 2, depth: 3 },
    ]);
  });

  it('merges several header values, resolves relative targets, drops duplicates', () => {
    const headers = [
      '</mirror/file.iso>; rel=duplicate',
      '<other.iso>; rel="describedby duplicate"; pri=5, <http://m1.example/file.iso>; rel=duplicate',
      '<https://origin.example/mirror/file.iso>; rel=duplicate; pri=9',
    ];
    assert.deepEqual(parseLinkMirrors(headers, BASE), [
      { url: 'https://origin.example/mirror/file.iso' },
      { url: 'https://origin.example/pub/dir/other.iso', priority: 5 },
      { url: 'http://m1.example/file.iso' },
    ]);
  });

  it('keeps only rel=duplicate with http(s) targets', () => {
    const header = [
      '<https://h.example/meta4>; rel=describedby; type="application/metalink4+xml"',
      '<ftp://ftp.example/file.iso>; rel=duplicate',
      '<file:///etc/passwd>; rel=duplicate',
      '<javascript:alert(1)>; rel=duplicate',
      '<https://ok.example/file.iso>; REL=Duplicate',
    ].join(', ');
    assert.deepEqual(parseLinkMirrors(header, BASE), [{ url: 'https://ok.example/file.iso' }]);
  });

  it('survives malformed values and drops bad parameters', () => {
    assert.deepEqual(parseLinkMirrors(undefined, BASE), []);
    assert.deepEqual(parseLinkMirrors('', BASE), []);
    assert.deepEqual(parseLinkMirrors('garbage; rel=duplicate', BASE), []);
    assert.deepEqual(parseLinkMirrors('<https://unterminated.example/x; rel=duplicate', BASE), []);
    assert.deepEqual(parseLinkMirrors('<https://a.example/x>', BASE), []);
    assert.deepEqual(parseLinkMirrors('junk, <https://b.example/x>; rel=duplicate; pri=0; geo=xyz; depth=-1', BASE), [
      { url: 'https://b.example/x' },
    ]);
    // An unterminated quote swallows the rest of the value: better no mirror than a guessed one.
    assert.deepEqual(parseLinkMirrors('<https://c.example/x>; rel="duplicate; pri=1', BASE), []);
    assert.deepEqual(parseLinkMirrors('<http://[bad>; rel=duplicate, <https://d.example/x>; rel=duplicate; pri=1000000', BASE), [
      { url: 'https://d.example/x' },
    ]);
  });
});
