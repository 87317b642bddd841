/**
 * Duplicate member names in a JSON text. RFC 8259 leaves an object that names a member twice
 * undefined: JSON.parse keeps the last value, other parsers the first or refuse. An answer that a
 * gateway or a log could read as a denial and this library as an allow must decide nothing, so
 * decision points' answers are checked for them.
 */

/**
 * The first member name that an object of `text` repeats, compared decoded (`"a"` and `"\u0061"`
 * are one name); undefined when none does. `text` must already be valid JSON (JSON.parse read it):
 * this is one linear scan that tracks only where strings and containers begin and end.
 */
export function repeatedMemberName(text: string): string | undefined {
  // One entry per open container: the names seen so far in an object, null for an array.
  const open: Array<Set<string> | null> = [];
  const length = text.length;
  let at = 0;
  while (at < length) {
    const char = text.charCodeAt(at);
    if (char === 0x7b) open.push(new Set());
    else if (char === 0x5b) open.push(null);
    else if (char === 0x7d || char === 0x5d) open.pop();
    else if (char === 0x22) {
      let end = at + 1;
      let escaped = false;
      for (let c = text.charCodeAt(end); c !== 0x22; c = text.charCodeAt(end)) {
        if (c === 0x5c) {
          escaped = true;
          end++;
        }
        end++;
      }
      const raw = text.slice(at, end + 1);
      at = end + 1;
      // A string is a member name when a ':' follows it (after JSON's four whitespace characters).
      while (at < length && isJsonWhitespace(text.charCodeAt(at))) at++;
      const names = open[open.length - 1];
      if (text.charCodeAt(at) === 0x3a && names) {
        const name = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (names.has(name)) return name;
        names.add(name);
      }
      continue;
    }
    at++;
  }
  return undefined;
}

function isJsonWhitespace(char: number): boolean {
  return char === 0x20 || char === 0x09 || char === 0x0a || char === 0x0d;
}
