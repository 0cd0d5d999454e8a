/**
 * Metalink documents: RFC 5854 (`.meta4`, namespace urn:ietf:params:xml:ns:metalink) and, because
 * it costs little, Metalink 3.0 (`.metalink`, namespace http://www.metalinker.org/).
 * Parsed with fast-xml-parser, never with regexes. File names go through the path gate and any
 * unsafe one rejects the document. A metalink is a list of hints about WHERE to fetch; its hashes
 * are only as trusted as the channel the metalink came from.
 *
 * Piece hashes in a metalink are plain `SHA-256(piece)` values (RFC 5854 §4.2.10), NOT RFC 6962
 * leaves (`SHA-256(0x00 ‖ piece)`): they cannot be fed to merkleTree.ts; compare each against the
 * SHA-256 of the corresponding piece of `pieces.length` bytes.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { ErrorCode, FetchError } from '../errors';
import { isSafeFileName } from '../security/pathSafety';

/** One download location of a file. */
export interface MetalinkUrl {
  url: string;
  /**
   * RFC 5854 priority: 1..999999, LOWER is preferred. Metalink 3.0 `preference` (0..100, higher
   * preferred) is mapped to `101 - preference` to keep that direction.
   */
  priority?: number;
  /** ISO 3166-1 alpha-2 country code, lower-cased. */
  location?: string;
}

/** Plain SHA-256 hashes of consecutive pieces of `length` bytes (the last may be shorter). */
export interface MetalinkPieces {
  length: number;
  /** Hex, one per piece, in order. */
  hashes: string[];
}

/** One file described by the metalink. */
export interface MetalinkFile {
  /** Safe base name (checked with `isSafeFileName`). */
  name: string;
  size?: number;
  /** http, https and ftp locations only, in document order. */
  urls: MetalinkUrl[];
  /** Whole-file SHA-256, hex. */
  sha256?: string;
  /** Present only for SHA-256 piece hashes; other algorithms are ignored. */
  pieces?: MetalinkPieces;
}

const NS_V4 = 'urn:ietf:params:xml:ns:metalink';
const NS_V3 = 'http://www.metalinker.org/';
const ALLOWED_PROTOCOLS = new Set(['http:', 'https:', 'ftp:']);
const HEX_256 = /^[0-9a-fA-F]{64}$/;

type XmlNode = Record<string, unknown>;

function bad(message: string): FetchError {
  return new FetchError(ErrorCode.BadArguments, `metalink: ${message}`);
}

const localName = (name: string): string => name.slice(name.indexOf(':') + 1);

/** Children named `name` (any namespace prefix), always as an array. */
function children(node: unknown, name: string): XmlNode[] {
  if (typeof node !== 'object' || node === null) return [];
  const found: XmlNode[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('@_') || localName(key) !== name) continue;
    for (const item of Array.isArray(value) ? value : [value]) {
      found.push(typeof item === 'object' && item !== null ? (item as XmlNode) : { '#text': item });
    }
  }
  return found;
}

const text = (node: XmlNode | undefined): string => (node === undefined ? '' : String(node['#text'] ?? '').trim());
const attr = (node: XmlNode, name: string): string | undefined => {
  const value = node[`@_${name}`];
  return value === undefined ? undefined : String(value).trim();
};

function parseCount(value: string | undefined, what: string, min: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < min) {
    throw bad(`${what} ${JSON.stringify(value.slice(0, 40))} is not a valid number`);
  }
  return Number(value);
}

const isSha256Type = (type: string | undefined): boolean => /^sha-?256$/i.test(type ?? '');

function parseUrl(node: XmlNode, version: 3 | 4): MetalinkUrl | undefined {
  let url: URL;
  try {
    url = new URL(text(node));
  } catch {
    return undefined;
  }
  if (!ALLOWED_PROTOCOLS.has(url.protocol)) return undefined;
  const result: MetalinkUrl = { url: url.href };
  if (version === 4) {
    const priority = Number(attr(node, 'priority'));
    if (Number.isInteger(priority) && priority >= 1 && priority <= 999999) result.priority = priority;
  } else {
    const preference = Number(attr(node, 'preference'));
    if (Number.isInteger(preference) && preference >= 0 && preference <= 100) result.priority = 101 - preference;
  }
  const location = attr(node, 'location');
  if (location && /^[A-Za-z]{2}$/.test(location)) result.location = location.toLowerCase();
  return result;
}

function parseFile(node: XmlNode, version: 3 | 4): MetalinkFile {
  const name = attr(node, 'name');
  if (name === undefined || name === '') throw bad('a <file> has no name');
  if (!isSafeFileName(name)) {
    throw new FetchError(ErrorCode.UnsafePath, `metalink: file name ${JSON.stringify(name.slice(0, 80))} is not a safe file name`);
  }
  const file: MetalinkFile = { name, urls: [] };
  const size = parseCount(text(children(node, 'size')[0]) || undefined, 'size', 0);
  if (size !== undefined) file.size = size;

  // v4 keeps hashes and urls directly under <file>; v3 nests them in <verification>/<resources>.
  const hashHome = version === 4 ? [node] : children(node, 'verification');
  const urlHome = version === 4 ? [node] : children(node, 'resources');

  for (const urlNode of urlHome.flatMap((home) => children(home, 'url'))) {
    const url = parseUrl(urlNode, version);
    if (url && !file.urls.some((u) => u.url === url.url)) file.urls.push(url);
  }

  for (const hash of hashHome.flatMap((home) => children(home, 'hash'))) {
    if (!isSha256Type(attr(hash, 'type'))) continue;
    const value = text(hash);
    if (!HEX_256.test(value)) throw bad(`file ${JSON.stringify(name)} has a malformed sha-256 hash`);
    if (file.sha256 !== undefined && file.sha256 !== value.toLowerCase()) throw bad(`file ${JSON.stringify(name)} has two different sha-256 hashes`);
    file.sha256 = value.toLowerCase();
  }

  const pieces = hashHome.flatMap((home) => children(home, 'pieces')).find((p) => isSha256Type(attr(p, 'type')));
  if (pieces) {
    const length = parseCount(attr(pieces, 'length'), 'piece length', 1);
    if (length === undefined) throw bad(`file ${JSON.stringify(name)} has <pieces> without a length`);
    let hashNodes = children(pieces, 'hash');
    if (version === 3) {
      // v3 numbers its piece hashes; order by that number rather than trusting document order.
      const indexed = hashNodes.map((h) => ({ h, i: parseCount(attr(h, 'piece'), 'piece index', 0) }));
      if (indexed.some((x) => x.i === undefined)) throw bad(`file ${JSON.stringify(name)} has a piece hash without an index`);
      indexed.sort((a, b) => (a.i as number) - (b.i as number));
      if (indexed.some((x, k) => x.i !== k)) throw bad(`file ${JSON.stringify(name)} has gaps in its piece hashes`);
      hashNodes = indexed.map((x) => x.h);
    }
    const hashes = hashNodes.map((h) => text(h));
    if (hashes.some((h) => !HEX_256.test(h))) throw bad(`file ${JSON.stringify(name)} has a malformed piece hash`);
    if (file.size !== undefined && hashes.length !== Math.ceil(file.size / length)) {
      throw bad(`file ${JSON.stringify(name)} has ${hashes.length} piece hashes but its size needs ${Math.ceil(file.size / length)}`);
    }
    file.pieces = { length, hashes: hashes.map((h) => h.toLowerCase()) };
  }
  return file;
}

/**
 * Files described by a Metalink 4 (RFC 5854) or 3.0 document. Throws FetchError(BadArguments) for
 * malformed XML, a DOCTYPE (entity expansion is never needed, so it is refused outright), an
 * unknown root or namespace, bad numbers or hashes; FetchError(UnsafePath) for an unsafe name.
 */
export function parseMetalink(xml: string): MetalinkFile[] {
  if (typeof xml !== 'string' || xml.trim() === '') throw bad('document is empty');
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw bad('DOCTYPE and ENTITY declarations are not allowed');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw bad(`malformed XML at line ${valid.err.line}: ${valid.err.msg}`);

  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    // Keep every value a string: a hex hash like "1234e5..." must not become a number.
    parseTagValue: false,
    parseAttributeValue: false,
    processEntities: true,
    htmlEntities: false,
  });
  const document = parser.parse(xml) as XmlNode;
  const rootKey = Object.keys(document).find((key) => localName(key) === 'metalink');
  if (rootKey === undefined) throw bad('the root element is not <metalink>');
  const root = (typeof document[rootKey] === 'object' && document[rootKey] !== null ? document[rootKey] : {}) as XmlNode;
  const prefix = rootKey.includes(':') ? rootKey.slice(0, rootKey.indexOf(':')) : '';
  const namespace = attr(root, prefix ? `xmlns:${prefix}` : 'xmlns');

  let version: 3 | 4;
  if (namespace === NS_V4) version = 4;
  else if (namespace === NS_V3) version = 3;
  else throw bad(`unknown namespace ${JSON.stringify(namespace ?? '')}`);

  const fileNodes = version === 4 ? children(root, 'file') : children(root, 'files').flatMap((f) => children(f, 'file'));
  if (fileNodes.length === 0) throw bad('the document describes no file');
  const files = fileNodes.map((node) => parseFile(node, version));
  const names = new Set<string>();
  for (const file of files) {
    if (names.has(file.name.toLowerCase())) throw bad(`file name ${JSON.stringify(file.name)} appears twice`);
    names.add(file.name.toLowerCase());
  }
  return files;
}
