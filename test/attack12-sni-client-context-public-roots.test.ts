// Attack (per-context trust / silently weakened verification): the owned server verifies each
// client with the context its SNICallback answered ("also verifies the client, with its own `ca`
// and `crl`"). createSecureContext(options[, isServer]) defaults isServer to false, and a context
// built that way without `ca` falls back to node's public root store (usesDefaultRoots). The
// SNICallback check accepts it (it only asks that the context be this library's), the handshake
// runs on it, and from then on the connection's client certificates, at the handshake and at every
// re-check, are verified against the whole public Web PKI: any client certificate a public CA
// issued (clientAuth) is "verified" for that tenant, where the server's own context (built with
// isServer = true) trusts nothing it was not given. One missing `true` in a per-tenant
// createSecureContext({ key, cert }) call widens client authentication to every public CA.
//
// A correct library never verifies a server's clients against the default public roots: it
// refuses a non-server context from SNICallback (ERR_CTLS_INVALID_OPTION, as it refuses node's own
// contexts), or a context that serves a server without `ca` trusts no client.
import t from 'tap';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { connect, createSecureContext, type TLSSocket } from '../dist/index.js';
import { makePki, startServer, codeOf } from './helpers/mtls';

const publicRoots = tls.rootCertificates.map((pem) => new X509Certificate(pem));

t.test('a tenant context from SNICallback does not verify clients against the public roots', async (t) => {
  const pki = await makePki();
  const tenant = createSecureContext({ key: pki.server.key, cert: pki.server.chain });
  const { server, port } = await startServer(t, {
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca.rootCert,
    SNICallback: (_name, callback) => callback(null, tenant),
  });
  const outcome = new Promise<{ socket: TLSSocket | null; error: Error | null }>((resolve) => {
    server.once('secureConnection', (socket: TLSSocket) => resolve({ socket, error: null }));
    server.once('tlsClientError', (error: Error) => resolve({ socket: null, error }));
  });
  const client = connect({ host: '127.0.0.1', port, servername: 'tenant.example', ca: pki.ca.rootCert });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const { socket, error } = await outcome;
  if (socket === null) {
    t.equal(codeOf(error), 'ERR_CTLS_INVALID_OPTION', 'a non-server context is refused');
    return;
  }
  t.equal(socket.secureContext, tenant, "the tenant's context verifies this connection's clients");
  let trusted = 0;
  for (const root of publicRoots) {
    const verdict = socket.secureContext.verifyChain([root], 'sslclient');
    if (verdict.ok || verdict.code === 'INVALID_PURPOSE') trusted++;
  }
  t.equal(trusted, 0, 'no public root is a trust anchor for client certificates on this server');
});
