/**
 * Reader for the `; name[=value]` parameter lists shared by `Link` (RFC 8288) and
 * `Content-Disposition` (RFC 6266). Values are tokens or quoted-strings. It never throws: header
 * values come from servers and a malformed one must degrade to "no parameters", not a crash.
 */

/** One parameter; `name` is lower-cased, `value` is undefined for a bare flag such as `pref`. */
export interface HeaderParam {
  name: string;
  value?: string;
}

/** What `readParams` consumed: the parameters and the offset just after them. */
export interface ParamsRead {
  params: HeaderParam[];
  end: number;
}

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t';

function skipSpaces(text: string, pos: number): number {
  while (isSpace(text[pos])) pos++;
  return pos;
}

/**
 * Reads a quoted-string starting at the opening quote. Only `\"` and `\\` are unescaped; any other
 * backslash is kept, as browsers do, so a name like `..\..\x` reaches the path gate unaltered and
 * is stripped there instead of silently turning into `....x`.
 */
export function readQuotedString(text: string, pos: number): { value: string; end: number } {
  let value = '';
  let i = pos + 1;
  while (i < text.length && text[i] !== '"') {
    if (text[i] === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) {
      value += text[i + 1];
      i += 2;
    } else {
      value += text[i];
      i++;
    }
  }
  return { value, end: Math.min(i + 1, text.length) };
}

/**
 * Reads parameters from `pos` (at or before the first `;`) until the end of the text, or a `,` at
 * top level when `stopAtComma` (a `Link` list separator). Parameters without a name are skipped.
 */
export function readParams(text: string, pos: number, stopAtComma: boolean): ParamsRead {
  const params: HeaderParam[] = [];
  let i = pos;
  for (;;) {
    i = skipSpaces(text, i);
    if (i >= text.length || (stopAtComma && text[i] === ',')) break;
    if (text[i] !== ';') {
      // Junk between parameters: skip to the next separator.
      while (i < text.length && text[i] !== ';' && !(stopAtComma && text[i] === ',')) i++;
      continue;
    }
    i = skipSpaces(text, i + 1);
    let name = '';
    while (i < text.length && !/[=;,\s]/.test(text[i])) name += text[i++];
    i = skipSpaces(text, i);
    let value: string | undefined;
    if (text[i] === '=') {
      i = skipSpaces(text, i + 1);
      if (text[i] === '"') {
        const quoted = readQuotedString(text, i);
        value = quoted.value;
        i = quoted.end;
      } else {
        value = '';
        while (i < text.length && text[i] !== ';' && !(stopAtComma && text[i] === ',')) value += text[i++];
        value = value.trim();
      }
    }
    if (name) params.push({ name: name.toLowerCase(), value });
  }
  return { params, end: i };
}
