/**
 * The key of a cached decision. Soundness: a cached decision may answer only an input on which the
 * policy must answer the same, so the default key names everything the policy can read:
 *
 * - always the identity and the request: the leaf's SHA-256 fingerprint (fingerprintKey), whether the
 *   chain verified (and why not), a hash of the token's whole claim set (issuer, subject,
 *   audience, scopes …), the action, the resource and any identity-provider signals
 *   (input.signals);
 * - then the facts the policy declares with `factsRead()` (dotted paths into the input, e.g.
 *   `connection.remoteAddress`, `request.headers.host`, `context.risk`; a `context.<name>` path also
 *   covers the library fact contextFacts() puts under that name);
 * - or, when the policy declares nothing (a plain function, an adapter that cannot tell), the whole
 *   input: connection facts down to its age, every header, the app context. Such a key rarely
 *   repeats; a policy that wants hits declares its facts, or the cache is given a `key`.
 *
 * Keys longer than 512 characters are replaced by their SHA-256, so a hostile path or header cannot
 * make an entry large. A DecisionCache keys with processCacheKey: the same, with each certificate
 * as a short id local to the process instead of its fingerprint.
 */
import { createHash, hash, X509Certificate } from 'node:crypto';
import { types } from 'node:util';
import type { AuthorizationInput, Policy } from '../common/types.js';
import { isSealedCertificate } from '../common/sealed-certificates.js';
import { actionName, CONTEXT_FACT_SOURCES, resourceId } from './facts.js';

/** Keys longer than this are hashed: the cache holds a bounded key whatever the request sent. */
const MAX_KEY_CHARS = 512;
const INPUT_ROOTS = new Set([
  'trigger',
  'peer',
  'connection',
  'request',
  'token',
  'context',
  'signals',
  'action',
  'resource',
]);

/** The facts a policy declares it reads (`factsRead()`, on an adapter or a function), or null: unknown. */
export function factsReadBy(policy: Policy): readonly string[] | null {
  const declared = (policy as { factsRead?: unknown }).factsRead;
  let facts: unknown;
  try {
    facts = typeof declared === 'function' ? (declared as () => unknown).call(policy) : declared;
  } catch {
    return null;
  }
  if (!Array.isArray(facts) || !facts.every((f) => typeof f === 'string' && f !== '')) return null;
  // A path the key cannot resolve in the input would silently key on nothing: treat as unknown.
  for (const f of facts as string[]) {
    const root = f.split('.')[0]!;
    if (!INPUT_ROOTS.has(root)) return null;
  }
  return Object.freeze([...new Set(facts as string[])].sort());
}

/**
 * The key of `input` for a policy that reads `facts` (null: anything), or undefined when a value
 * it must cover cannot be spelled exactly (see Uncacheable): that input is decided uncached. See
 * the module comment.
 */
export function defaultCacheKey(input: AuthorizationInput, facts: readonly string[] | null = null): string | undefined {
  return keyOrUndefined(input, facts, false);
}

/**
 * The key a DecisionCache uses by default: the same facts as defaultCacheKey, with every
 * certificate spelled as a number this process gave its fingerprint (CertIds) instead of the
 * fingerprint itself. A key lives only in this process's cache, and a shorter one is a cheaper hit:
 * a Map hashes a freshly built key string in full on every lookup.
 */
export function processCacheKey(input: AuthorizationInput, facts: readonly string[] | null): string | undefined {
  return keyOrUndefined(input, facts, true);
}

function keyOrUndefined(
  input: AuthorizationInput,
  facts: readonly string[] | null,
  local: boolean,
): string | undefined {
  try {
    return keyOf(input, facts, local);
  } catch (err) {
    if (err instanceof Uncacheable) return undefined;
    throw err;
  }
}

function keyOf(input: AuthorizationInput, facts: readonly string[] | null, local: boolean): string {
  // A key built while another is (from a getter, say) starts afresh and leaves the outer as it was.
  const outerLeft = valuesLeft;
  const outerCheck = checkHidden;
  const outerLocal = localCertIds;
  valuesLeft = MAX_KEY_VALUES;
  checkHidden = true;
  localCertIds = local;
  try {
    return keyWithin(input, facts);
  } finally {
    valuesLeft = outerLeft;
    checkHidden = outerCheck;
    localCertIds = outerLocal;
  }
}

function keyWithin(input: AuthorizationInput, facts: readonly string[] | null): string {
  // The parts read here directly (the leaf, the verdict, the action and resource) must not be a
  // Proxy's answer, which the policy's own read may not repeat. Each is read once, and the facts
  // walk through these very objects without asking again (see walk).
  if (types.isProxy(input)) throw new Uncacheable();
  const vouched = libraryInputs.has(input);
  const { peer, request, certificate, verified, verifyError, token, signals, action, resource } = vouched
    ? libraryParts(input)
    : appParts(input);
  // The leaf keyed here is the one a fact may refer back to (factEnc).
  const leaf = isBareCertificate(certificate) ? certificate : undefined;
  const fp = leaf !== undefined ? certKey(leaf) : leafKey(certificate);
  // A policy may tell `true` from any other value, and read the error whatever it says.
  const verify = verified === true ? 'v' : `u${enc(verified)}${enc(verifyError)}`;
  // Free-form parts are length-prefixed (enc), so no two different inputs spell the same key.
  let key = `${fp}|${verify}|${tokenKey(token)}|${enc(action)}${enc(resource)}`;
  // An identity provider's signals about the subject are keyed whatever the policy declares: they
  // are few, and an answer about one device status must never serve another.
  if (signals !== undefined) key += `~${enc(signals)}`;
  if (facts === null) key = wholeInputInto(key + '*', input, vouched);
  else {
    const plan = planOf(facts);
    const connection = vouched ? input.connection : undefined;
    const checked: Checked = { peer, request, connection, leaf, vouched };
    for (let i = 0; i < plan.length; i++) key += factValue(input, plan[i]!, checked);
  }
  return key.length > MAX_KEY_CHARS ? `#${sha256(key)}` : key;
}

/** What keyWithin reads of an input, each once; the action and resource as actionName() and resourceId() do. */
interface InputParts {
  peer: unknown;
  request: unknown;
  certificate: unknown;
  verified: unknown;
  verifyError: unknown;
  token: Record<string, unknown> | undefined;
  signals: unknown;
  action: unknown;
  resource: unknown;
}

/** The parts of an input the library built: plain data in its top level, peer and request. */
function libraryParts(input: AuthorizationInput): InputParts {
  const { peer, request } = input;
  if (types.isProxy(peer) || types.isProxy(request)) throw new Uncacheable();
  return {
    peer,
    request,
    certificate: peer.certificate,
    verified: peer.verified,
    verifyError: peer.verifyError,
    token: input.token,
    signals: input.signals,
    action: actionName(input),
    resource: resourceId(input),
  };
}

/**
 * The parts of an input an app built: own data properties of plain objects only (see field). The
 * action and resource follow actionName() and resourceId(), read through descriptors.
 */
function appParts(input: AuthorizationInput): InputParts {
  plainOnly(input);
  const peer = ownData(input, 'peer');
  const request = ownData(input, 'request');
  if (types.isProxy(peer) || types.isProxy(request)) throw new Uncacheable();
  plainOnly(peer);
  // actionName() and resourceId() read request.method and request.path, inherited ones included.
  plainOnly(request);
  const fromPeer = (name: string): unknown => ownData(peer as object, name);
  const fromRequest = (name: string): unknown =>
    request === undefined || request === null ? undefined : ownData(request, name);
  return {
    peer,
    request,
    certificate: fromPeer('certificate'),
    verified: fromPeer('verified'),
    verifyError: fromPeer('verifyError'),
    token: ownData(input, 'token') as Record<string, unknown> | undefined,
    signals: ownData(input, 'signals'),
    action: ownData(input, 'action') ?? fromRequest('method') ?? ownData(input, 'trigger'),
    resource: ownData(input, 'resource') ?? fromRequest('path') ?? 'connection',
  };
}

/**
 * Own property `name` of `object` as a policy reading it later will see it. An input the library
 * built (`vouched`) holds plain data in its top level, peer and request objects, read directly.
 * Anywhere else the property must be data: an accessor could answer the key one thing and the
 * policy another, or change the input while the key is built, so it is Uncacheable, and its getter
 * is never run. Building a key therefore runs no code of the input's.
 */
function field(object: unknown, name: string, vouched: boolean): unknown {
  if (vouched) return (object as Record<string, unknown>)[name];
  return ownData(object as object, name);
}

function ownData(object: object, name: PropertyKey): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(object, name);
  if (descriptor === undefined) return undefined;
  // A data property always has `writable`; an accessor never does.
  if (descriptor.writable === undefined) throw new Uncacheable();
  return descriptor.value;
}

/** A class instance may answer from its prototype (a getter) what no own property shows. */
function plainOnly(value: unknown): void {
  if (value === null || typeof value !== 'object') return;
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) throw new Uncacheable();
}

/**
 * The leaf's part of every key when it is not a bare certificate. A bare one is its certKey (see
 * keyWithin): 43 characters where fingerprint256 spells the same 32 bytes in 95, and a shorter key
 * is a cheaper hit (a Map hashes a fresh key string in full on every lookup). Anything else an app
 * put there starts with `!`, which no certKey (base64url) holds, and is spelled whole by enc(),
 * which refuses a subclass or an annotated certificate.
 */
function leafKey(certificate: unknown): string {
  return certificate === undefined ? '' : '!' + enc(certificate);
}

/** One-shot SHA-256 (crypto.hash skips the Hash object), base64url. */
const sha256Of: (data: string | Buffer) => string =
  typeof hash === 'function'
    ? (data) => hash('sha256', data, 'base64url')
    : (data) => createHash('sha256').update(data).digest('base64url');

/** 0xFF never occurs in UTF-8: it sets the UTF-16 spelling of an ill-formed string apart. */
const ILL_FORMED = Buffer.from([0xff]);
const isWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

/**
 * SHA-256 of a key, over the string's exact code units. Hashing encodes a string as UTF-8, which
 * turns every lone surrogate into U+FFFD: `admin\ud800` and `admin\ufffd` would share a key, and
 * a policy can tell them apart. A string with a lone surrogate is hashed as its UTF-16 code units
 * instead, after a byte no UTF-8 holds.
 */
function sha256(data: string): string {
  const wellFormed = isWellFormed !== undefined ? isWellFormed.call(data) : !/\p{Surrogate}/u.test(data);
  return wellFormed ? sha256Of(data) : sha256Of(Buffer.concat([ILL_FORMED, Buffer.from(data, 'utf16le')]));
}

/**
 * Claims the library verified and froze, all the way down (sealClaims): they cannot change, so
 * their key is computed once. Any other claims object (an app's, which it may change in place) is
 * spelled again on every key.
 */
const sealedClaims = new WeakSet<object>();
const tokenKeys = new WeakMap<object, string>();

/**
 * Freezes verified JWT claims (plain JSON: objects, arrays, primitives) all the way down, so that
 * no policy or app can change what a cached decision was made on, and marks them so that their
 * key is kept. Returns the same object.
 */
export function sealClaims<T extends Record<string, unknown>>(claims: T): T {
  deepFreeze(claims, 0);
  sealedClaims.add(claims);
  return claims;
}

/** Every object is visited, even one already frozen: freezing is shallow, its members may not be. */
function deepFreeze(value: unknown, depth: number): void {
  if (value === null || typeof value !== 'object') return;
  if (depth > MAX_KEY_DEPTH) throw new RangeError('the claims are nested too deeply');
  Object.freeze(value);
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key], depth + 1);
}

/**
 * The whole claim set, hashed: issuer, subject, audience, scopes, times, everything a policy may
 * read. Two issuers' tokens with one `sub`, or two client-credentials tokens without one, differ.
 * Spelled with certificate fingerprints whichever key asks, so a kept key is the same for both.
 */
function tokenKey(token: Record<string, unknown> | undefined): string {
  if (token === undefined) return '';
  const sealed = sealedClaims.has(token);
  if (sealed) {
    const known = tokenKeys.get(token);
    if (known !== undefined) return known;
  }
  const outerLocal = localCertIds;
  localCertIds = false;
  let key: string;
  try {
    key = sha256(enc(token));
  } finally {
    localCertIds = outerLocal;
  }
  if (sealed) tokenKeys.set(token, key);
  return key;
}

/**
 * A declared fact as the paths to walk: its own, and for `context.<library fact>` the input's. A
 * request header's name is walked in lowercase (see walk).
 */
interface FactPaths {
  path: readonly string[];
  source?: readonly string[];
}
const factPaths = new Map<string, FactPaths>();

function pathsOf(fact: string): FactPaths {
  let paths = factPaths.get(fact);
  if (paths === undefined) {
    const path = fact.split('.');
    paths = { path: headerNamesLowered(path) };
    const source = path[0] === 'context' && path.length > 1 ? CONTEXT_FACT_SOURCES[path[1]!] : undefined;
    if (source !== undefined) paths.source = headerNamesLowered([...source.split('.'), ...path.slice(2)]);
    // Fact names come from loaded policies, a small set; bound the memo anyway.
    if (factPaths.size >= 4096) factPaths.clear();
    factPaths.set(fact, paths);
  }
  return paths;
}

/**
 * node gives request header names in lowercase (RFC 9110 §5.1: case-insensitive), so a fact that
 * names one in another case walks to the same header. Any other `headers` (in the app's context,
 * say) is the app's object, read as it is.
 */
function headerNamesLowered(path: string[]): string[] {
  if (path.length > 2 && path[0] === 'request' && path[1] === 'headers') path[2] = path[2]!.toLowerCase();
  return path;
}

/**
 * A declared fact list as the paths to walk, kept for a frozen list (the one factsReadBy gives a
 * cache): a hit then looks its facts up once, not once per fact. A list that can still change is
 * planned on every key.
 */
const factPlans = new WeakMap<readonly string[], readonly FactPaths[]>();

function planOf(facts: readonly string[]): readonly FactPaths[] {
  let plan = factPlans.get(facts);
  if (plan === undefined) {
    plan = facts.map(pathsOf);
    if (Object.isFrozen(facts)) factPlans.set(facts, plan);
  }
  return plan;
}

/** The value at a declared fact's path; `context.<library fact>` also takes the input it comes from. */
function factValue(input: AuthorizationInput, { path, source }: FactPaths, checked: Checked): string {
  const value = factEnc(walk(input, path, checked), checked.leaf);
  return source === undefined ? value : `${value}${factEnc(walk(input, source, checked), checked.leaf)}`;
}

/**
 * The objects keyWithin read from the input and found not to be a Proxy, which no object stops
 * being: a walk that reaches the very same object need not ask again. The leaf is also known to be
 * a bare certificate (isBareCertificate).
 */
interface Checked {
  readonly peer: unknown;
  readonly request: unknown;
  /** The input's connection facts, read only for an input the library built (else undefined). */
  readonly connection: unknown;
  readonly leaf: X509Certificate | undefined;
  /** The input is the library's own (libraryInputs): it, its peer, request and connection hold plain data. */
  readonly vouched: boolean;
}

/**
 * enc() of a declared fact, except that the very certificate object the key starts with (`leaf`,
 * bare, which any fact under `peer.certificate` walks to) is `C`: spelling its certKey again would make
 * every hit hash 44 characters more. No other value encodes as a bare `C`, and another object
 * with the same fingerprint is spelled in full (a miss at worst, never a wrong hit).
 */
function factEnc(value: unknown, leaf: X509Certificate | undefined): string {
  return leaf !== undefined && value === leaf ? 'C' : enc(value);
}

/** The value at `path` in the input `root`, which keyWithin found not to be a Proxy. */
function walk(root: AuthorizationInput, path: readonly string[], checked: Checked): unknown {
  let at: unknown = root;
  for (let i = 0; i < path.length; i++) {
    if (at === null || typeof at !== 'object') return at;
    if (at === checked.leaf) return at;
    // Before instanceof, which runs a Proxy's getPrototypeOf trap (and throws on a revoked one).
    if (at !== root && at !== checked.peer && at !== checked.request && types.isProxy(at)) throw new Uncacheable();
    // A certificate stands for all its facts: key on the whole of it (enc refuses one that does not).
    if (at instanceof X509Certificate) return at;
    // A class instance (an Array subclass included) may answer from its prototype (a getter)
    // what no own property shows.
    const prototype = Object.getPrototypeOf(at) as unknown;
    if (prototype !== Object.prototype && prototype !== null && prototype !== Array.prototype) throw new Uncacheable();
    const name = path[i]!;
    const libraryData =
      checked.vouched && (at === root || at === checked.peer || at === checked.request || at === checked.connection);
    if (libraryData)
      at = Object.prototype.hasOwnProperty.call(at, name) ? (at as Record<string, unknown>)[name] : undefined;
    else at = ownData(at, name);
  }
  return at;
}

/**
 * Inputs the library built itself (policyInput, authorizeRequest): their trigger, peer and
 * connection are plain data made from the library's own state, with no non-enumerable or
 * symbol-keyed property and no array hole for the key to miss. The check for those is an own-key
 * listing of every object, which costs more than the rest of the key, so it runs on those parts
 * only when someone else built the input (an app calling evaluate() with an input of its own). The
 * request is always checked: its `headers` is node's live `req.headers`, which middleware may
 * write to, and which on HTTP/2 carries a symbol (http2.sensitiveHeaders) that the peer sets. So
 * are the app's `context`, `signals`, `action` and `resource`.
 */
const libraryInputs = new WeakSet<AuthorizationInput>();

/** Marks an input the library just built from its own state (see libraryInputs). */
export function builtByLibrary<T extends AuthorizationInput>(input: T): T {
  libraryInputs.add(input);
  return input;
}

/**
 * Ends the library's word for an input as it is handed to app code (a policy function, an
 * adapter's evaluate(), a mapping hook), which may change it: any later key of the same object (a
 * composition's next constituent, a request decided again) checks it in full.
 */
export function handedToApp(input: AuthorizationInput): void {
  libraryInputs.delete(input);
}

/**
 * The whole input as enc() spells the array [trigger, peer, connection, request, context, action,
 * resource], appended to `out`. Skipping the hidden-state check never changes the spelling, only
 * whether a part can be refused as Uncacheable.
 */
function wholeInputInto(out: string, input: AuthorizationInput, vouched: boolean): string {
  const part = (name: string): unknown => field(input, name, vouched);
  const parts = ['trigger', 'peer', 'connection', 'request', 'context', 'action', 'resource'].map(part);
  const outer = checkHidden;
  out += '[';
  try {
    for (let i = 0; i < parts.length; i++) {
      // Parts 0-2 are the library's own; the request (node's headers) and the app's are checked.
      checkHidden = !(vouched && i < 3);
      out = encInto(out, parts[i], 1);
    }
  } finally {
    checkHidden = outer;
  }
  return out + ']';
}

/** Deeper values than this are not keyed: the key throws, and the policy call fails closed. */
const MAX_KEY_DEPTH = 32;

/**
 * Values one key may encode. An input that shares objects (a role graph referenced from several
 * places) is encoded once per path through it, which grows with the product of its fan-outs: past
 * this budget the input is Uncacheable and decided without the cache, so building a key never costs
 * much more than the embedded Cedar engine's own conversion (10,000 values per record) would.
 */
const MAX_KEY_VALUES = 10_000;
let valuesLeft = MAX_KEY_VALUES;
/** Whether encInto refuses hidden state (false only inside a vouched part: see libraryInputs). */
let checkHidden = true;
/** Whether certificates are spelled as this process's ids (processCacheKey) or as fingerprints. */
let localCertIds = false;

/**
 * An unambiguous encoding of a value: every string is length-prefixed, every kind tagged, a
 * certificate is its fingerprint (X509Certificate#toJSON would give the whole PEM), undefined and
 * null differ. Object keys keep their order: a different order only costs a miss.
 */
function enc(value: unknown): string {
  return encInto('', value, 0);
}

/**
 * enc(value) appended to `out`. Every part goes straight onto one string rather than into a
 * string per nested value that its parent then copies: a whole-input key is built on every hit.
 */
function encInto(out: string, value: unknown, depth: number): string {
  if (--valuesLeft < 0) throw new Uncacheable();
  switch (typeof value) {
    case 'string':
      return out + 's' + value.length + ':' + value;
    case 'number':
      // -0 prints as 0, yet a policy can tell them apart (Object.is, 1 / x).
      return out + (Object.is(value, -0) ? 'n-0;' : 'n' + value + ';');
    case 'boolean':
      return out + (value ? 'T' : 'F');
    case 'undefined':
      return out + 'U';
    case 'bigint':
      return out + 'b' + value + ';';
    case 'object':
      break;
    default:
      // A function or a symbol: nothing says what a policy gets from one.
      throw new Uncacheable();
  }
  if (value === null) return out + 'N';
  // A Proxy answers what its handler likes, each time it is read: no spelling covers it.
  if (types.isProxy(value)) throw new Uncacheable();
  if (value instanceof X509Certificate) {
    if (!isBareCertificate(value)) throw new Uncacheable();
    return out + 'c' + certKey(value) + ';';
  }
  if (depth >= MAX_KEY_DEPTH) throw new RangeError('the input is nested too deeply to key a cached decision');
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype === Array.prototype) {
    const array = value as unknown[];
    // A hole, or a named property (a RegExp match's `groups`), is state the elements do not show.
    if (checkHidden && Object.keys(array).length !== array.length) throw new Uncacheable();
    out += '[';
    for (let i = 0; i < array.length; i++) out = encInto(out, checkHidden ? ownData(array, i) : array[i], depth + 1);
    return out + ']';
  }
  if (prototype !== Object.prototype && prototype !== null) return encObject(out, value, depth);
  out += '{';
  const keys = Object.keys(value);
  // Non-enumerable or symbol-keyed own properties are state a policy can read and this key cannot see.
  if (checkHidden && hasHiddenKeys(value, keys.length)) throw new Uncacheable();
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = checkHidden ? ownData(value, k) : (value as Record<string, unknown>)[k];
    out = encInto(out + encName(k), v, depth + 1);
  }
  return out + '}';
}

/**
 * Whether `value` has own properties beyond its `enumerable` enumerable string keys. Two listings
 * rather than Reflect.ownKeys: V8 answers getOwnPropertyNames of a plain object from the same
 * cache as Object.keys, and the symbol listing is short, so together they cost a fifth of it.
 */
function hasHiddenKeys(value: object, enumerable: number): boolean {
  return Object.getOwnPropertyNames(value).length !== enumerable || Object.getOwnPropertySymbols(value).length !== 0;
}

/**
 * A value the key cannot spell exactly (a class instance whose state is not its own enumerable
 * properties, a function): the input is decided without the cache, never keyed as something else.
 */
export class Uncacheable extends Error {
  constructor() {
    super('a value in the input cannot key a cached decision');
  }
}

/**
 * An object that is not a plain one: the built-in kinds a context plausibly holds, each by its
 * whole state (a Date's time, a Map's entries, a Set's members, a boxed primitive's value, a URL's
 * href, a RegExp's source, flags and lastIndex, the bytes of a typed array or buffer), tagged with
 * its kind. Plain-object encoding would spell every one of them `{}`. Only the built-in itself
 * counts: a subclass, or a built-in given properties of its own, holds state this spelling omits.
 * Anything else is Uncacheable.
 */
function encObject(out: string, value: object, depth: number): string {
  if (Object.getOwnPropertySymbols(value).length !== 0) throw new Uncacheable();
  const prototype = Object.getPrototypeOf(value) as object | null;
  switch (prototype) {
    case Date.prototype:
      ownNames(value, 0);
      return out + 'D' + (value as Date).getTime() + ';';
    case Map.prototype:
      ownNames(value, 0);
      out += 'M{';
      for (const [k, v] of value as Map<unknown, unknown>) out = encInto(encInto(out, k, depth + 1), v, depth + 1);
      return out + '}';
    case Set.prototype:
      ownNames(value, 0);
      out += 'S[';
      for (const v of value as Set<unknown>) out = encInto(out, v, depth + 1);
      return out + ']';
    case URL.prototype:
      ownNames(value, 0);
      return encInto(out + 'L', (value as URL).href, depth);
    case RegExp.prototype: {
      // lastIndex is its one own property, and a global or sticky RegExp's test() reads it.
      ownNames(value, 1);
      const regexp = value as RegExp;
      return encInto(encInto(encInto(out + 'R', regexp.source, depth), regexp.flags, depth), regexp.lastIndex, depth);
    }
    case ArrayBuffer.prototype:
      ownNames(value, 0);
      return bytesInto(out + 'A', wholeBuffer(value as ArrayBuffer), 0, (value as ArrayBuffer).byteLength);
    case Number.prototype:
    case Boolean.prototype:
    case BigInt.prototype:
      ownNames(value, 0);
      return encInto(out + 'O', (value as { valueOf(): unknown }).valueOf(), depth);
    case String.prototype:
      // Its index properties and length.
      ownNames(value, (value as unknown as string).length + 1);
      return encInto(out + 'O', (value as { valueOf(): unknown }).valueOf(), depth);
  }
  const view = prototype === null ? undefined : VIEW_KINDS.get(prototype);
  if (view === undefined) throw new Uncacheable();
  const bytes = value as ArrayBufferView;
  // A typed array's own properties are its indices: listing them to find any other costs O(length).
  const indices = view === 'DataView' ? 0 : (bytes as Uint8Array).length;
  if (indices > MAX_KEYED_VIEW_LENGTH) throw new Uncacheable();
  ownNames(value, indices);
  // A window onto part of a buffer shows the rest through .buffer: only a view of a whole one is
  // spelled by its bytes.
  const buffer = wholeBuffer(bytes.buffer);
  if (bytes.byteOffset !== 0 || bytes.byteLength !== buffer.byteLength) throw new Uncacheable();
  return bytesInto(out + 'X' + view, buffer, 0, bytes.byteLength);
}

/**
 * `buffer` when its bytes are all its state: a plain ArrayBuffer, not detached, not resizable (its
 * maxByteLength is state too), not shared (another thread may change it). Else Uncacheable.
 */
function wholeBuffer(buffer: ArrayBufferLike): ArrayBuffer {
  if (Object.getPrototypeOf(buffer) !== ArrayBuffer.prototype) throw new Uncacheable();
  const plain = buffer as ArrayBuffer & { resizable?: boolean; detached?: boolean };
  if (plain.resizable === true || plain.detached === true) throw new Uncacheable();
  return plain;
}

/** The ArrayBuffer views keyed by their bytes, by prototype (Buffer's is its own, FastBuffer's). */
const VIEW_KINDS = new Map<object, string>(
  [
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
    DataView,
    Buffer,
  ].map((kind) => [kind.prototype, kind.name]),
);
/** Longer views make an input uncached: see encObject. */
const MAX_KEYED_VIEW_LENGTH = 4096;

/** Refuses a built-in with own properties beyond the `expected` it has by itself. */
function ownNames(value: object, expected: number): void {
  if (Object.getOwnPropertyNames(value).length !== expected) throw new Uncacheable();
}

function bytesInto(out: string, buffer: ArrayBuffer, offset: number, length: number): string {
  let bytes: string;
  try {
    bytes = Buffer.from(buffer, offset, length).toString('base64');
  } catch {
    // Detached where ArrayBuffer#detached is not there to tell (Node 20): nothing to spell.
    throw new Uncacheable();
  }
  return out + length + ':' + bytes + ';';
}

/**
 * Whether `value` is node's own X509Certificate and nothing more: immutable DER, so its fingerprint
 * names every fact a policy can read from it. A subclass (state of its own, an overridden getter)
 * or a certificate given own properties is not, and an input holding one is decided uncached. Node
 * keeps a certificate's state under symbols of its own on some lines (Node 20); a certificate with
 * any other symbol-keyed property is not bare either.
 */
function isBareCertificate(value: unknown): value is X509Certificate {
  // One the library sealed as it made it can hold nothing but node's state (sealed-certificates.ts).
  if (isSealedCertificate(value)) return true;
  return (
    !types.isProxy(value) &&
    value instanceof X509Certificate &&
    Object.getPrototypeOf(value) === X509Certificate.prototype &&
    Object.getOwnPropertyNames(value).length === 0 &&
    onlyNodeSymbols(value)
  );
}

/**
 * A certificate that only serves to learn which own symbols node gives every X509Certificate
 * (self-signed Ed25519, CN=x; its dates do not matter).
 */
const PROBE_CERTIFICATE = `
-----BEGIN CERTIFICATE-----
MIIBLDCB36ADAgECAhQuFeT469ukex7SD1deoShmwGfaRTAFBgMrZXAwDDEKMAgG
A1UEAwwBeDAeFw0yNjEyMDcxOTE1MTFaFw0yNjEyMDgxOTE1MTFaMAwxCjAIBgNV
BAMMAXgwKjAFBgMrZXADIQDTB6jFAKrWo6wGSRwx73gV9aWncWVEFt8UMZJ0Ffei
b6NTMFEwHQYDVR0OBBYEFMaPYJgzwhzmMm4Nfq0eJRn4TANuMB8GA1UdIwQYMBaA
FMaPYJgzwhzmMm4Nfq0eJRn4TANuMA8GA1UdEwEB/wQFMAMBAf8wBQYDK2VwA0EA
Vij5+LhiJT3emVPkJNqSkxFajXr6Tp+kXjC7IbdKnt1PZDftDAGzUV3M/nTFifSI
Fz9Q5KvSrNaDFgdVtxfSDQ==
-----END CERTIFICATE-----
`;
let nodeSymbols: readonly symbol[] | undefined;

/** The symbols node keys a certificate's own state with (Node 20's handle and getter memo; none on 24). */
function nodeStateSymbols(): readonly symbol[] {
  return (nodeSymbols ??= Object.getOwnPropertySymbols(new X509Certificate(PROBE_CERTIFICATE)));
}

function onlyNodeSymbols(cert: X509Certificate): boolean {
  const expected = nodeStateSymbols();
  const own = Object.getOwnPropertySymbols(cert);
  if (own.length !== expected.length) return false;
  for (let i = 0; i < own.length; i++) {
    if (!expected.includes(own[i]!)) return false;
    // Node's getters read through these: one made an accessor would run while the key is built.
    if (Object.getOwnPropertyDescriptor(cert, own[i]!)!.writable === undefined) return false;
  }
  return true;
}

/**
 * A spelling kept per certificate object, with the node state it was made from. Where node keeps
 * that state in writable symbol properties (Node 20), code holding the object can point them at
 * another certificate's: the object then reads as that certificate, and the kept spelling is not
 * used (sameNodeState).
 */
interface KeptSpelling {
  readonly spelling: string;
  readonly state: readonly unknown[];
}

function keepSpelling(memo: WeakMap<X509Certificate, KeptSpelling>, cert: X509Certificate, spelling: string): void {
  memo.set(cert, {
    spelling,
    state: nodeStateSymbols().map((symbol) => (cert as unknown as Record<symbol, unknown>)[symbol]),
  });
}

function keptSpelling(memo: WeakMap<X509Certificate, KeptSpelling>, cert: X509Certificate): string | undefined {
  const kept = memo.get(cert);
  if (kept === undefined) return undefined;
  const symbols = nodeStateSymbols();
  for (let i = 0; i < symbols.length; i++) {
    if ((cert as unknown as Record<symbol, unknown>)[symbols[i]!] !== kept.state[i]) return undefined;
  }
  return kept.spelling;
}

/** A certificate never changes, so its fingerprint key is computed once per X509Certificate object. */
const fingerprintKeys = new WeakMap<X509Certificate, KeptSpelling>();

/** A certificate as the key spells it: its process-local id in processCacheKey, else its fingerprint. */
function certKey(cert: X509Certificate): string {
  return localCertIds ? certIds.of(cert) : fingerprintKey(cert);
}

/**
 * A certificate as its SHA-256 fingerprint in base64url: the same 32 bytes as `fingerprint256`, so
 * two certificates share a key exactly when they share a fingerprint, in 43 characters instead of
 * 95. A whole-input key carries every certificate of the chain.
 */
function fingerprintKey(cert: X509Certificate): string {
  let key = keptSpelling(fingerprintKeys, cert);
  if (key === undefined) {
    key = Buffer.from(cert.fingerprint256.replaceAll(':', ''), 'hex').toString('base64url');
    keepSpelling(fingerprintKeys, cert, key);
  }
  return key;
}

/**
 * Numbers for certificate fingerprints, in base 36, the same for every object of one certificate.
 * An id is never given to two fingerprints: ids only count up, and when the table of fingerprints
 * is full it is emptied, so a certificate seen again gets a new id (its cached decisions become
 * misses, never another certificate's answers). A base-36 id is never empty and never starts with
 * `!`, which tells it apart from the key of no leaf or of a stand-in (leafKey).
 */
export class CertIds {
  readonly #byObject = new WeakMap<X509Certificate, KeptSpelling>();
  readonly #byFingerprint = new Map<string, string>();
  readonly #max: number;
  #last = 0;

  /** `max`: fingerprints kept so that another object of the same certificate gets the same id. */
  constructor(max: number) {
    this.#max = max;
  }

  of(cert: X509Certificate): string {
    let id = keptSpelling(this.#byObject, cert);
    if (id === undefined) {
      const fingerprint = fingerprintKey(cert);
      id = this.#byFingerprint.get(fingerprint);
      if (id === undefined) {
        if (this.#byFingerprint.size >= this.#max) this.#byFingerprint.clear();
        id = (++this.#last).toString(36);
        this.#byFingerprint.set(fingerprint, id);
      }
      keepSpelling(this.#byObject, cert, id);
    }
    return id;
  }
}

/** The ids processCacheKey spells certificates with. */
const certIds = new CertIds(65_536);

/** Encoded property names: a few (input fields, header names) recur on every key. */
const encodedNames = new Map<string, string>();
/**
 * Header names come from peers: only short names are kept, and past this many names new ones are
 * encoded each time, so what a peer sends can pin at most MAX_ENCODED_NAMES short strings.
 */
const MAX_ENCODED_NAMES = 1024;
const MAX_KEPT_NAME_CHARS = 64;

function encName(name: string): string {
  let encoded = encodedNames.get(name);
  if (encoded === undefined) {
    encoded = 's' + name.length + ':' + name;
    if (name.length <= MAX_KEPT_NAME_CHARS && encodedNames.size < MAX_ENCODED_NAMES) encodedNames.set(name, encoded);
  }
  return encoded;
}

/** enc(value) within a budget of its own (the size of a decision's obligations). */
function encodeValue(value: unknown): string {
  const outerLeft = valuesLeft;
  const outerCheck = checkHidden;
  const outerLocal = localCertIds;
  valuesLeft = MAX_KEY_VALUES;
  checkHidden = true;
  localCertIds = false;
  try {
    return enc(value);
  } finally {
    valuesLeft = outerLeft;
    checkHidden = outerCheck;
    localCertIds = outerLocal;
  }
}

export { encodeValue };
