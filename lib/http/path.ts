/**
 * The request path a REST decision is made on: the path the router will route, not the raw
 * request-target. A policy that forbids `/admin` must also see `/admin` for `/ADMIN` under a
 * case-insensitive router, for `http://evil/admin` (absolute-form, RFC 9112 §3.2.2) and for
 * `/admin#frag`, or it judges one resource while the router serves another.
 *
 * The model is Envoy's path normalization (normalize_path, merge_slashes, escaped-slash handling),
 * with one difference: Envoy forwards the normalized path, so its router and its policy agree on
 * it. A middleware cannot rewrite what Fastify has already routed, so forms on which routers
 * disagree are refused (400) instead of rewritten:
 *
 * - dot segments (`.`, `..`, also `%2e`-encoded): node's URL parser resolves them, Express and
 *   Fastify match them literally (a `/admin/:x` route runs for `/admin/..`); RFC 3986 §5.2.4 has
 *   clients remove them before sending, so honest clients never send one;
 * - escapes of `/`, `\` and control characters (`%2F`, `%5C`, `%00` …): a decoding router and a
 *   non-decoding one split such a path differently (RFC 3986 §2.2: an escaped delimiter is data);
 * - escapes of unreserved characters (`%61` for `a`): Fastify decodes them before routing, Express
 *   matches routes on the raw path (so `/ad%6Din` runs another handler than `/admin`) but decodes
 *   parameters; RFC 3986 §2.3 has producers never escape them, so only a probe sends one;
 * - a raw `\` (the WHATWG URL parser reads it as `/`), malformed escapes and escapes that are not
 *   UTF-8;
 * - a path starting with `//` unless the router merges slashes (the URL parser reads `//x/y` as
 *   host `x`, path `/y`);
 * - an absolute-form target whose authority is not a plain host[:port] (userinfo, escapes), where
 *   parsers disagree on where the path starts.
 *
 * Every other escape is decoded, as the routers decode the parameters they hand to handlers
 * (`/users/a%40b` runs `/users/:id` with id `a@b`): sub-delims, `:`, `@`, space and UTF-8 sequences.
 * Escapes of `?`, `#` and `%` stay encoded with uppercase hex (RFC 3986 §6.2.2.1): decoding them
 * would change where the path ends or allow a second decoding. Then the router's own rules apply:
 * slashes merged, one trailing slash dropped, letters lowercased, each only when the router does it.
 *
 * Case folding is lossy: under a case-insensitive router `/users/ALICE` and `/users/alice` run the
 * same handler with different parameters, and the policy sees both as `/users/alice`. Apps whose
 * path parameters are case-sensitive should turn case-sensitive routing on.
 */

/** How the router in front of the handlers matches paths. */
export interface PathRules {
  /** The router matches letters case-sensitively (Fastify's default; Express's is false). */
  caseSensitive: boolean;
  /** `/a/` routes like `/a` (Express's default, `strict: false`; Fastify's `ignoreTrailingSlash`). */
  ignoreTrailingSlash: boolean;
  /** Runs of `/` route like one (Fastify's `ignoreDuplicateSlashes`). */
  mergeSlashes: boolean;
  /** `;` ends the path like `?` (Fastify's `useSemicolonDelimiter`). */
  semicolonDelimiter: boolean;
}

/** node:http apps that route on `new URL(req.url, base).pathname`. */
export const NODE_PATH_RULES: Readonly<PathRules> = Object.freeze({
  caseSensitive: true,
  ignoreTrailingSlash: false,
  mergeSlashes: false,
  semicolonDelimiter: false,
});
/** Express 5 defaults: `case sensitive routing` and `strict routing` off. */
export const EXPRESS_PATH_RULES: Readonly<PathRules> = Object.freeze({
  caseSensitive: false,
  ignoreTrailingSlash: true,
  mergeSlashes: false,
  semicolonDelimiter: false,
});
/** Fastify 5 defaults. */
export const FASTIFY_PATH_RULES: Readonly<PathRules> = Object.freeze({
  caseSensitive: true,
  ignoreTrailingSlash: false,
  mergeSlashes: false,
  semicolonDelimiter: false,
});

export type CanonicalPath = { ok: true; path: string } | { ok: false; reason: string };

const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/;
/**
 * A non-empty reg-name or IP-literal, optional port (RFC 3986 §3.2.2): no userinfo (RFC 9110 §4.2.4),
 * no escapes, no empty host (RFC 9110 §4.2.1; the URL parser would take `http:///x/y` as host x).
 */
const AUTHORITY = /^(?:[A-Za-z0-9._~!$&'()*+,;=-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?$/;
/** Escapes kept as they are: decoding them would move the end of the path or allow double decoding. */
const KEEP_ENCODED = new Set([...'?#%'].map((c) => c.charCodeAt(0)));
/** RFC 3986 §2.3 unreserved characters: an escape of one is refused. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true });

/** The path `target` (a request-target, RFC 9112 §3.2) routes to under `rules`, or why it is refused. */
export function canonicalPath(target: string, rules: PathRules): CanonicalPath {
  if (target === '*') return { ok: true, path: '*' };
  let path = target;
  if (!path.startsWith('/')) {
    const m = ABSOLUTE.exec(path);
    const scheme = m?.[1]?.toLowerCase();
    if (m === null || (scheme !== 'http' && scheme !== 'https'))
      return refuse('the request-target is neither origin-form nor an http(s) absolute-form');
    if (!AUTHORITY.test(m[2]!)) return refuse('the request-target has a malformed authority');
    path = path.slice(m[0].length);
    if (!path.startsWith('/')) path = `/${path}`;
  }
  path = path.slice(0, endOfPath(path, rules.semicolonDelimiter));
  if (rules.mergeSlashes) path = path.replace(/\/{2,}/g, '/');
  else if (path.startsWith('//')) return refuse('the path starts with "//"');

  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const decoded = decodeSegment(segments[i]!, rules.caseSensitive);
    if (typeof decoded !== 'string') return decoded;
    segments[i] = decoded;
  }
  let out = segments.join('/');
  if (rules.ignoreTrailingSlash && out.length > 1 && out.endsWith('/')) out = out.slice(0, -1);
  return { ok: true, path: out };
}

function endOfPath(path: string, semicolon: boolean): number {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x3f || c === 0x23 || (semicolon && c === 0x3b)) return i;
  }
  return path.length;
}

/** One segment, escapes decoded or normalized; lowercased (not its kept escapes) when case-insensitive. */
function decodeSegment(segment: string, caseSensitive: boolean): string | CanonicalPath {
  let out = '';
  let i = 0;
  while (i < segment.length) {
    const c = segment.charCodeAt(i);
    if (c === 0x5c) return refuse('the path contains "\\"');
    if (c < 0x20 || c === 0x7f) return refuse('the path contains a control character');
    if (c !== 0x25) {
      const start = i;
      while (i < segment.length && segment.charCodeAt(i) !== 0x25 && segment.charCodeAt(i) !== 0x5c) i++;
      const text = segment.slice(start, i);
      // Control characters are exactly what is being refused here.
      // eslint-disable-next-line no-control-regex
      if (/[\x00-\x1f\x7f]/.test(text)) return refuse('the path contains a control character');
      out += caseSensitive ? text : text.toLowerCase();
      continue;
    }
    // A run of escapes: ASCII ones one by one, bytes >= 0x80 together as UTF-8.
    const bytes: number[] = [];
    while (i < segment.length && segment.charCodeAt(i) === 0x25) {
      const hex = segment.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return refuse('the path contains a malformed percent-escape');
      const b = parseInt(hex, 16);
      i += 3;
      if (b >= 0x80) {
        bytes.push(b);
        continue;
      }
      const flushed = flushUtf8(bytes, caseSensitive);
      if (flushed === undefined) return refuse('the path contains percent-escapes that are not UTF-8');
      out += flushed;
      if (b < 0x20 || b === 0x7f || b === 0x2f || b === 0x5c)
        return refuse(`the path contains an ambiguous escape %${hex.toUpperCase()}`);
      if (UNRESERVED.test(String.fromCharCode(b)))
        return refuse(`the path escapes an unreserved character (%${hex.toUpperCase()})`);
      if (KEEP_ENCODED.has(b)) out += `%${hex.toUpperCase()}`;
      else out += caseSensitive ? String.fromCharCode(b) : String.fromCharCode(b).toLowerCase();
    }
    const flushed = flushUtf8(bytes, caseSensitive);
    if (flushed === undefined) return refuse('the path contains percent-escapes that are not UTF-8');
    out += flushed;
  }
  if (out === '.' || out === '..') return refuse('the path contains a dot segment');
  return out;
}

function flushUtf8(bytes: number[], caseSensitive: boolean): string | undefined {
  if (bytes.length === 0) return '';
  let text: string;
  try {
    text = UTF8_DECODER.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
  bytes.length = 0;
  return caseSensitive ? text : text.toLowerCase();
}

function refuse(reason: string): CanonicalPath {
  return { ok: false, reason };
}
