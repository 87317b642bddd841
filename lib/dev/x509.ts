/**
 * @peculiar/x509, which the development CA makes its certificates and CRLs with, loaded on first use
 * with what it needs around it (a WebCrypto provider, a Reflect metadata API).
 */
import type * as X509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

let x509Module: typeof X509 | undefined;

/**
 * Loads @peculiar/x509 on first use: it drags in tsyringe and the ASN.1 schemas, which an
 * application that never makes certificates should not pay for at startup.
 */
export function loadX509(): typeof X509 {
  if (x509Module === undefined) {
    ensureReflectMetadata();
    const loaded = require('@peculiar/x509') as typeof X509;
    // It needs a WebCrypto implementation; Node's covers ECDSA P-256 and RSA.
    loaded.cryptoProvider.set(webcrypto as unknown as Parameters<typeof loaded.cryptoProvider.set>[0]);
    x509Module = loaded;
  }
  return x509Module;
}

/**
 * tsyringe (which @peculiar/x509 resolves its algorithms through) throws at load time unless a
 * Reflect metadata API exists, normally installed by the reflect-metadata package. The library's
 * classes carry no design-time metadata, so a small per-object store is all it needs. Installed only
 * when missing, so a real polyfill loaded earlier wins.
 */
function ensureReflectMetadata(): void {
  const reflect = Reflect as unknown as Record<string, unknown>;
  if (typeof reflect['getMetadata'] === 'function') return;
  const store = new WeakMap<object, Map<PropertyKey | undefined, Map<unknown, unknown>>>();
  const table = (target: object, prop: PropertyKey | undefined, create: boolean): Map<unknown, unknown> | undefined => {
    let byProp = store.get(target);
    if (!byProp) {
      if (!create) return undefined;
      store.set(target, (byProp = new Map()));
    }
    let entries = byProp.get(prop);
    if (!entries && create) byProp.set(prop, (entries = new Map()));
    return entries;
  };
  const getOwnMetadata = (key: unknown, target: object, prop?: PropertyKey): unknown =>
    table(target, prop, false)?.get(key);
  const hasOwnMetadata = (key: unknown, target: object, prop?: PropertyKey): boolean =>
    table(target, prop, false)?.has(key) ?? false;
  // The non-own lookups walk the prototype chain, as reflect-metadata's do.
  const owner = (key: unknown, target: object, prop?: PropertyKey): object | undefined => {
    for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
      if (hasOwnMetadata(key, t, prop)) return t;
    }
    return undefined;
  };
  const hasMetadata = (key: unknown, target: object, prop?: PropertyKey): boolean =>
    owner(key, target, prop) !== undefined;
  const getMetadata = (key: unknown, target: object, prop?: PropertyKey): unknown => {
    const t = owner(key, target, prop);
    return t === undefined ? undefined : getOwnMetadata(key, t, prop);
  };
  const defineMetadata = (key: unknown, value: unknown, target: object, prop?: PropertyKey): void => {
    table(target, prop, true)!.set(key, value);
  };
  const metadata =
    (key: unknown, value: unknown) =>
    (target: object, prop?: PropertyKey): void =>
      defineMetadata(key, value, target, prop);
  const api = { getOwnMetadata, hasOwnMetadata, hasMetadata, getMetadata, defineMetadata, metadata };
  for (const [name, fn] of Object.entries(api)) {
    Object.defineProperty(Reflect, name, { value: fn, writable: true, configurable: true, enumerable: false });
  }
}
