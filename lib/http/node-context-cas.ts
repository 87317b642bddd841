/**
 * The CAs of node:tls secure contexts, remembered as they are made.
 *
 * REST on node:https must judge the chain the server's CAs verify, not the list a client sent: a
 * client can pad its chain with a cross-signed intermediate and that issuer's old self-signed root,
 * and node then shows that padding, whose every link verifies, in place of the chain OpenSSL built
 * (see peer.ts). node shows neither the chain OpenSSL verified nor the CAs of a context once it is
 * made, and a server's `ca` option describes its default context only: a context that an
 * `SNICallback` returns or that `server.addContext()` made verifies with its own. So the library
 * wraps `tls.createSecureContext`, through which node itself makes every server context
 * (createServer, setSecureContext, addContext) and which apps call for their SNI contexts, and
 * remembers each context's `ca` by its native context, the object a TLS handle names.
 *
 * A context made before this module loaded, one whose CAs came from `pfx`, and one that relies on
 * node's default roots are not known here: peer.ts says so with a warning and judges what node
 * shows, with each link checked by signature.
 */
import { syncBuiltinESMExports } from 'node:module';

type CreateSecureContext = (options?: { ca?: unknown; pfx?: unknown }, ...rest: unknown[]) => { context?: unknown };

/** Two copies of the library in one process share one wrapper and one record. */
const kWrapped = Symbol.for('continuous-tls.createSecureContext');
const kRecord = Symbol.for('continuous-tls.nodeContextCas');

/** The `ca` each native context was made with, as PEM text joined in order. */
const casByContext: WeakMap<object, string> = ((globalThis as { [kRecord]?: WeakMap<object, string> })[kRecord] ??=
  new WeakMap());

function caText(options: { ca?: unknown; pfx?: unknown } | undefined): string | undefined {
  // With pfx the store also holds the CAs inside it, which cannot be read from here.
  if (options === null || typeof options !== 'object' || options.pfx !== undefined) return undefined;
  const { ca } = options;
  if (ca === undefined || ca === null) return undefined;
  const list: readonly unknown[] = Array.isArray(ca) ? ca : [ca];
  const pems: string[] = [];
  for (const item of list) {
    if (typeof item === 'string') pems.push(item);
    else if (Buffer.isBuffer(item)) pems.push(item.toString('latin1'));
    else return undefined;
  }
  return pems.length === 0 ? undefined : pems.join('\n');
}

function install(): void {
  const tls = require('node:tls') as { createSecureContext: CreateSecureContext & { [kWrapped]?: true } };
  // Two copies of the library in one process share one wrapper (and one WeakMap through it).
  if (tls.createSecureContext[kWrapped] === true) return;
  const original = tls.createSecureContext;
  const createSecureContext = function createSecureContext(
    this: unknown,
    ...args: Parameters<CreateSecureContext>
  ): ReturnType<CreateSecureContext> {
    const made = Reflect.apply(original, this, args) as ReturnType<CreateSecureContext>;
    const text = caText(args[0]);
    const native = made?.context;
    if (text !== undefined && native !== null && typeof native === 'object') casByContext.set(native, text);
    return made;
  } as CreateSecureContext & { [kWrapped]?: true };
  Object.defineProperty(createSecureContext, kWrapped, { value: true });
  tls.createSecureContext = createSecureContext;
  // ES modules that imported node:tls read the export binding, which follows only after this.
  syncBuiltinESMExports();
}

install();

/**
 * The CA PEM text a node:tls native context (a handle's `sni_context`, a SecureContext's
 * `context`) was made with; undefined when it is not known.
 */
export function nodeContextCas(context: object): string | undefined {
  return casByContext.get(context);
}
