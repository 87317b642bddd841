// Attack: the tls.createSecureContext wrapper (lib/http/node-context-cas.ts) hands node
// Object.create(options) holding the `ca`/`crl` it read, so every other option node reads (key,
// cert, minVersion, ...) runs the app's getters with `this` bound to that new object, not to the
// app's. A getter that reads a private field (`get key() { return this.#key }`, the usual shape of
// a config class) then throws "Cannot read private member": importing continuous-tls/http breaks
// `server.addContext(name, config)` and `tls.createSecureContext(config)`, which work without it,
// as soon as the config carries a `ca`.
//
// The fix: do not hand node a derived object. Either copy the options node reads into a plain
// object (reading each once from the caller's, with the caller as receiver), or hand node the
// caller's own object and record the `ca`/`crl` node itself read (e.g. read them, then pass a
// plain object made of the caller's own enumerable keys and accessors resolved against it).
import t from 'tap';
import https from 'node:https';
import * as tls from 'node:tls';
import '../dist/http/authorize-request.js';
import { certs } from './helpers/certs';

class TlsConfig {
  readonly #key: string;
  readonly #cert: string;
  readonly #ca: string;
  constructor(key: string, cert: string, ca: string) {
    this.#key = key;
    this.#cert = cert;
    this.#ca = ca;
  }
  get key(): string {
    return this.#key;
  }
  get cert(): string {
    return this.#cert;
  }
  get ca(): string {
    return this.#ca;
  }
}

t.test('options whose getters read private fields still make a context', async (t) => {
  const config = new TlsConfig(certs.serverKey, certs.serverChain, certs.ca);
  t.doesNotThrow(() => tls.createSecureContext(config), 'tls.createSecureContext(config)');
  const server = https.createServer({ key: certs.serverKey, cert: certs.serverChain, requestCert: true });
  t.teardown(() => server.close());
  t.doesNotThrow(() => server.addContext('tenant.example', config), "server.addContext('tenant.example', config)");
});
