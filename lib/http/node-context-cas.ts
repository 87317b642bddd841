/**
 * The trust of node:tls secure contexts (their CAs and CRLs), remembered as they are made.
 *
 * REST on node:https must judge the chain the server's CAs verify, not the list a client sent: a
 * client can pad its chain with a cross-signed intermediate and that issuer's old self-signed root,
 * and node then shows that padding, whose every link verifies, in place of the chain OpenSSL built
 * (see peer.ts). node shows neither the chain OpenSSL verified nor a context's CAs once it is
 * made, and a server's `ca` option is a live property node read once: a context that an
 * `SNICallback` returns or that `server.addContext()` made verifies with its own. So the library
 * wraps `tls.createSecureContext`, through which node itself makes every server context
 * (createServer, setSecureContext, addContext) and which apps call for their SNI contexts, and
 * remembers each context's `ca` and `crl` by its native context, the object a TLS handle names.
 *
 * The wrapper reads `ca` and `crl` once and hands node what it read (through a proxy of the
 * caller's options), so an accessor or an array's own iterator cannot answer node one thing and
 * the record another.
 *
 * A context made before this module loaded, one whose CAs came from `pfx`, and one that relies on
 * node's default roots are not known here (see node-server-trust.ts for what happens then).
 */
import { syncBuiltinESMExports } from 'node:module';

/** What a context verifies clients with: the PEM text of each item, in order. */
export interface NodeContextTrust {
  readonly ca: readonly string[];
  /** Absent when the context was made without CRLs (node then checks none). */
  readonly crl?: readonly string[];
}

type Options = { ca?: unknown; crl?: unknown; pfx?: unknown };
type CreateSecureContext = (options?: Options, ...rest: unknown[]) => { context?: unknown };

/** Two copies of the library in one process share one wrapper and one record. */
const kWrapped = Symbol.for('continuous-tls.createSecureContext');
const kRecord = Symbol.for('continuous-tls.nodeContextTrust');

const trustByContext: WeakMap<object, NodeContextTrust> = ((
  globalThis as { [kRecord]?: WeakMap<object, NodeContextTrust> }
)[kRecord] ??= new WeakMap());

/**
 * One option's items (node takes a value or an array of them), read by index, once. Holes are
 * skipped, as node's walk skips them.
 */
export function itemsOf(value: unknown): unknown[] {
  if (!Array.isArray(value)) return [value];
  const items: unknown[] = [];
  const length = value.length;
  for (let index = 0; index < length; index++) if (index in value) items.push(value[index]);
  return items;
}

/** The PEM text of items node reads as PEM (strings and any ArrayBufferView); undefined otherwise. */
export function pemItems(items: readonly unknown[]): string[] | undefined {
  const pems: string[] = [];
  for (const item of items) {
    if (typeof item === 'string') pems.push(item);
    else if (ArrayBuffer.isView(item))
      pems.push(Buffer.from(item.buffer, item.byteOffset, item.byteLength).toString('latin1'));
    else return undefined;
  }
  return pems.length === 0 ? undefined : pems;
}

/**
 * A property that can never change (frozen: non-writable, non-configurable data): a proxy must
 * answer its own value for it, and that value is what was read anyway.
 */
function fixed(target: object, property: string): boolean {
  const descriptor = Object.getOwnPropertyDescriptor(target, property);
  return descriptor !== undefined && 'value' in descriptor && !descriptor.writable && !descriptor.configurable;
}

/** Whether an array's items are all plain data (no accessor answers a second read differently). */
function plainItems(array: readonly unknown[]): boolean {
  for (let index = 0; index < array.length; index++) {
    const descriptor = Object.getOwnPropertyDescriptor(array, index);
    if (descriptor !== undefined && !('value' in descriptor)) return false;
  }
  return true;
}

/** The options node is given: `ca` and `crl` as read here, the rest as the caller's. */
function snapshot(options: Options): { options: Options; trust: NodeContextTrust | undefined } {
  const ca = options.ca;
  const crl = options.crl;
  const cas = ca === undefined || ca === null ? undefined : itemsOf(ca);
  const crls = crl === undefined || crl === null ? undefined : itemsOf(crl);
  if (cas === undefined && crls === undefined) return { options, trust: undefined };
  const caValue = Array.isArray(ca) ? cas : ca;
  const crlValue = Array.isArray(crl) ? crls : crl;
  // A frozen option reaches node as it is (a proxy cannot answer otherwise), so node reads it
  // again: unless its items are plain values, what node reads may differ, and what it trusts
  // cannot be told.
  const rereadByNode = (property: 'ca' | 'crl', value: unknown): boolean =>
    fixed(options as object, property) && Array.isArray(value) && !plainItems(value);
  const unsure = rereadByNode('ca', ca) || rereadByNode('crl', crl);
  // Everything else node reads from the caller's object itself (its getters see their own
  // `this`, private fields included); only these two answer what was read here.
  const given = new Proxy(options as object, {
    get: (target, property) => {
      if ((property === 'ca' || property === 'crl') && !fixed(target, property))
        return property === 'ca' ? caValue : crlValue;
      return Reflect.get(target, property, target);
    },
  }) as Options;
  // With pfx the store also holds the CAs inside it, which cannot be read from here.
  const caPem = cas === undefined || options.pfx !== undefined ? undefined : pemItems(cas);
  // node loads no CRL from an empty list (a server configured with no CRL files).
  const noCrl = crls === undefined || crls.length === 0;
  const crlPem = noCrl ? undefined : pemItems(crls);
  let trust: NodeContextTrust | undefined;
  // No CA read is the record of a trust that cannot be told: its requests are denied.
  if (unsure) trust = { ca: [] };
  else if (caPem !== undefined && (noCrl || crlPem !== undefined))
    trust = crlPem === undefined ? { ca: caPem } : { ca: caPem, crl: crlPem };
  return { options: given, trust };
}

/** Native contexts whose trust changed after they were made: what they trust cannot be told. */
const kChanged = Symbol.for('continuous-tls.nodeContextChanged');
const changedContexts: WeakSet<object> = ((globalThis as { [kChanged]?: WeakSet<object> })[kChanged] ??= new WeakSet());

/** Methods of node's native context that change what it trusts. */
const TRUST_CHANGES = ['addCACert', 'addCRL', 'addRootCerts', 'setAllowPartialTrustChain'];

/**
 * Follows what a recorded context is given through node's native context afterwards (a CRL
 * hot-loaded with `context.context.addCRL()`): an added CA or CRL item joins its record, anything
 * else makes what it trusts one that cannot be told. node makes its contexts with these calls
 * too, before the record exists, so only later calls count.
 */
function watchTrustChanges(native: object): void {
  for (const name of TRUST_CHANGES) {
    const method = (native as Record<string, unknown>)[name];
    if (typeof method !== 'function' || (method as { [kWrapped]?: true })[kWrapped] === true) continue;
    const wrapped = function (this: object, ...args: unknown[]): unknown {
      const result = Reflect.apply(method, this, args);
      const trust = trustByContext.get(this);
      if (trust !== undefined) {
        const added = name === 'addCACert' || name === 'addCRL' ? pemItems([args[0]]) : undefined;
        if (added === undefined) changedContexts.add(this);
        else if (name === 'addCACert') trustByContext.set(this, { ...trust, ca: [...trust.ca, ...added] });
        else trustByContext.set(this, { ...trust, crl: [...(trust.crl ?? []), ...added] });
      }
      return result;
    };
    Object.defineProperty(wrapped, kWrapped, { value: true });
    (native as Record<string, unknown>)[name] = wrapped;
  }
}

function install(): void {
  const tls = require('node:tls') as { createSecureContext: CreateSecureContext & { [kWrapped]?: true } };
  if (tls.createSecureContext[kWrapped] === true) return;
  const original = tls.createSecureContext;
  const createSecureContext = function createSecureContext(
    this: unknown,
    ...args: Parameters<CreateSecureContext>
  ): ReturnType<CreateSecureContext> {
    const options = args[0];
    if (options === null || typeof options !== 'object') return Reflect.apply(original, this, args);
    const taken = snapshot(options);
    args[0] = taken.options;
    const made = Reflect.apply(original, this, args) as ReturnType<CreateSecureContext>;
    const native = made?.context;
    if (taken.trust !== undefined && native !== null && typeof native === 'object')
      trustByContext.set(native, taken.trust);
    return made;
  } as CreateSecureContext & { [kWrapped]?: true };
  Object.defineProperty(createSecureContext, kWrapped, { value: true });
  tls.createSecureContext = createSecureContext;
  const probe = (Reflect.apply(original, tls, [{}]) as { context?: unknown }).context;
  const prototype = probe !== null && typeof probe === 'object' ? Object.getPrototypeOf(probe) : null;
  if (prototype !== null) watchTrustChanges(prototype as object);
  // ES modules that imported node:tls read the export binding, which follows only after this.
  syncBuiltinESMExports();
}

install();

/**
 * The CAs (and CRLs) a node:tls native context (a handle's `sni_context`, a SecureContext's
 * `context`) was made with; undefined when they are not known.
 */
export function nodeContextTrust(context: object): NodeContextTrust | undefined {
  return trustByContext.get(context);
}

/** Whether a recorded context's trust was changed after it was made (see watchTrustChanges). */
export function nodeContextChanged(context: object): boolean {
  return changedContexts.has(context);
}
