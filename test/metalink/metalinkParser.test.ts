import * as assert from 'node:assert/strict';
import { ErrorCode, FetchError } from '../../src/engine/errors';
import { jobPartsFromMetalink } from '../../src/engine/metalink/metalinkJob';
import { parseMetalink } from '../../src/engine/metalink/metalinkParser';

const H = (c: string): string => c.repeat(64);
// A hex value made only of digits: would become a number if the parser converted values.
const DIGITS = '1234567890'.repeat(6) + '1234';

const SAMPLE = `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <published>2024-01-01T00:00:00Z</published>
  <file name="ubuntu.iso">
    <size>600000</size>
    <hash type="sha-1">${'a'.repeat(40)}</hash>
    <hash type="sha-256">${H('A')}</hash>
    <pieces length="262144" type="sha-1">
      <hash>${'b'.repeat(40)}</hash><hash>${'c'.repeat(40)}</hash><hash>${'d'.repeat(40)}</hash>
    </pieces>
    <pieces length="262144" type="sha-256">
      <hash>${H('1')}</hash>
      <hash>${DIGITS}</hash>
      <hash>${H('3')}</hash>
    </pieces>
    <url location="de" priority="1">https://de.mirror.example/ubuntu.iso</url>
    <url location="US" priority="2">http://us.mirror.example/pub/ubuntu.iso?x=1&amp;y=2</url>
    <url priority="3"><![CDATA[ftp://ftp.mirror.example/ubuntu.iso]]></url>
    <url priority="4">file:///etc/passwd</url>
    <url>javascript:alert(1)</url>
    <metaurl mediatype="torrent">https://t.example/ubuntu.torrent</metaurl>
  </file>
</metalink>`;

const isCode = (code: string, pattern?: RegExp) => (e: unknown): boolean =>
  e instanceof FetchError && e.code === code && (!pattern || pattern.test(e.message));

describe('metalinkParser', () => {
  it('parses an RFC 5854 document: 3 urls with priorities and locations, sha-256 and pieces', () => {
    const files = parseMetalink(SAMPLE);
    assert.equal(files.length, 1);
    assert.deepEqual(files[0], {
      name: 'ubuntu.iso',
      size: 600000,
      urls: [
        { url: 'https://de.mirror.example/ubuntu.iso', priority: 1, location: 'de' },
        { url: 'http://us.mirror.example/pub/ubuntu.iso?x=1&y=2', priority: 2, location: 'us' },
        { url: 'ftp://ftp.mirror.example/ubuntu.iso', priority: 3 },
      ],
      sha256: H('a'),
      pieces: { length: 262144, hashes: [H('1'), DIGITS, H('3')] },
    });
  });

  it('turns http(s) and ftp(s) urls into sources, best priority first, and skips the rest', () => {
    const parts = jobPartsFromMetalink(parseMetalink(SAMPLE)[0]);
    assert.deepEqual(parts.sources.map((s) => s.url), [
      'https://de.mirror.example/ubuntu.iso',
      'http://us.mirror.example/pub/ubuntu.iso?x=1&y=2',
      'ftp://ftp.mirror.example/ubuntu.iso',
    ]);
  });

  it('accepts a namespace prefix and several files', () => {
    const xml = `<ml:metalink xmlns:ml="urn:ietf:params:xml:ns:metalink">
      <ml:file name="a.bin"><ml:url>https://h.example/a.bin</ml:url></ml:file>
      <ml:file name="b.bin"><ml:size>0</ml:size></ml:file></ml:metalink>`;
    const files = parseMetalink(xml);
    assert.deepEqual(files.map((f) => f.name), ['a.bin', 'b.bin']);
    assert.deepEqual(files[0].urls, [{ url: 'https://h.example/a.bin' }]);
    assert.equal(files[1].size, 0);
  });

  it('tolerates Metalink 3.0 (preference mapped to priority, numbered pieces)', () => {
    const xml = `<?xml version="1.0"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/">
  <files><file name="v3.bin">
    <size>40000</size>
    <verification>
      <hash type="sha256">${H('e')}</hash>
      <pieces length="32768" type="sha256"><hash piece="1">${H('2')}</hash><hash piece="0">${H('1')}</hash></pieces>
    </verification>
    <resources>
      <url type="http" location="fr" preference="100">http://fr.example/v3.bin</url>
      <url type="bittorrent" preference="90">http://t.example/v3.torrent.bin</url>
    </resources>
  </file></files>
</metalink>`;
    const [file] = parseMetalink(xml);
    assert.equal(file.sha256, H('e'));
    assert.deepEqual(file.pieces, { length: 32768, hashes: [H('1'), H('2')] });
    assert.deepEqual(file.urls[0], { url: 'http://fr.example/v3.bin', priority: 1, location: 'fr' });
  });

  it('rejects unsafe file names through the path gate', () => {
    for (const name of ['../../etc/passwd', '..\\..\\x', 'C:\\Windows\\x', '/abs', 'dir/file', 'CON', '..', 'x.']) {
      const xml = `<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="${name}"><url>https://h.example/x</url></file></metalink>`;
      assert.throws(() => parseMetalink(xml), isCode(ErrorCode.UnsafePath), name);
    }
  });

  it('rejects malformed, hostile or inconsistent documents with BadArguments', () => {
    const wrap = (inner: string): string => `<metalink xmlns="urn:ietf:params:xml:ns:metalink">${inner}</metalink>`;
    const cases: Array<[string, RegExp]> = [
      ['', /empty/],
      ['<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="a">', /malformed XML/],
      ['<!DOCTYPE x [<!ENTITY a "aaaa">]><metalink xmlns="urn:ietf:params:xml:ns:metalink"/>', /DOCTYPE/],
      ['<metalink xmlns="urn:example:other"><file name="a"/></metalink>', /namespace/],
      ['<other xmlns="urn:ietf:params:xml:ns:metalink"/>', /root element/],
      [wrap(''), /no file/],
      [wrap('<file><url>https://h.example/x</url></file>'), /no name/],
      [wrap('<file name="a"><size>-5</size></file>'), /size/],
      [wrap('<file name="a"><size>1e3</size></file>'), /size/],
      [wrap(`<file name="a"><hash type="sha-256">${'a'.repeat(63)}</hash></file>`), /malformed sha-256/],
      [wrap(`<file name="a"><hash type="sha-256">${H('a')}</hash><hash type="sha-256">${H('b')}</hash></file>`), /two different/],
      [wrap(`<file name="a"><size>10</size><pieces length="4" type="sha-256"><hash>${H('a')}</hash></pieces></file>`), /needs 3/],
      [wrap(`<file name="a"><pieces length="0" type="sha-256"><hash>${H('a')}</hash></pieces></file>`), /piece length/],
      [wrap(`<file name="a"><pieces type="sha-256"><hash>${H('a')}</hash></pieces></file>`), /without a length/],
      [wrap('<file name="a"/><file name="A"/>'), /appears twice/],
    ];
    for (const [xml, pattern] of cases) {
      assert.throws(() => parseMetalink(xml), isCode(ErrorCode.BadArguments, pattern), String(pattern));
    }
  });

  it('ignores non-sha-256 piece hashes and unusable urls without failing', () => {
    const xml = `<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="a.bin">
      <pieces length="1024" type="sha-1"><hash>${'b'.repeat(40)}</hash></pieces>
      <url priority="0">https://h.example/a.bin</url><url priority="x">not a url</url>
      <url location="germany">https://h.example/a.bin</url></file></metalink>`;
    const [file] = parseMetalink(xml);
    assert.equal(file.pieces, undefined);
    assert.deepEqual(file.urls, [{ url: 'https://h.example/a.bin' }]);
  });
});
