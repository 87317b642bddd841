// Attack (lossy conversion of a trust option / silently weakened verification): a client is built
// with `ca: []`, an empty list of private CAs (a bundle directory that turned out empty, a filtered
// list of tenant CAs that left none, a config key that was emptied). pemBuffer turns the empty array
// into "no option", and a client context without `ca` falls back to node's public root store: the
// client now accepts any server with a certificate from any public CA for the host name, where the
// caller asked to trust an explicit, empty set. node:tls keeps the two apart: `ca: []` is a list
// (addCACerts over nothing, so nothing is trusted), only an absent/undefined `ca` means the default
// roots. The same holds for setCa([]) on a client context.
//
// A correct library either trusts nothing for `ca: []` (as node:tls) or refuses the option with
// ERR_CTLS_INVALID_OPTION; it never widens an explicit empty trust list to the public Web PKI.
import t from 'tap';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { connect, createSecureContext, type SecureContext } from '../dist/index.js';

const publicRoots = tls.rootCertificates.map((pem) => new X509Certificate(pem));

/** How many of node's public roots `context` accepts as trusted (ok, or found but wrong purpose). */
function trustedRoots(context: SecureContext): number {
  let trusted = 0;
  for (const root of publicRoots) {
    const outcome = context.verifyChain([root], 'sslserver');
    if (outcome.ok || outcome.code === 'INVALID_PURPOSE') trusted++;
  }
  return trusted;
}

/** A context built with `ca: []`, or null when the library refused the option (also correct). */
function emptyCaContext(build: () => SecureContext): SecureContext | null {
  try {
    return build();
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_CTLS_INVALID_OPTION') return null;
    throw error;
  }
}

t.test('createSecureContext({ ca: [] }) on a client trusts no public root', async (t) => {
  const context = emptyCaContext(() => createSecureContext({ ca: [] }, false));
  if (context === null) return t.pass('ca: [] refused');
  t.equal(trustedRoots(context), 0, 'an empty CA list trusts nothing, as node:tls');
});

t.test('connect({ ca: [] }) verifies the server against no public root', async (t) => {
  const listener = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  t.teardown(() => listener.close());
  const port = (listener.address() as net.AddressInfo).port;
  const context = emptyCaContext(() => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'example.com', ca: [] });
    socket.on('error', () => {});
    t.teardown(() => socket.destroy());
    return socket.secureContext;
  });
  if (context === null) return t.pass('ca: [] refused');
  t.equal(trustedRoots(context), 0, "the client's trust store holds no public root");
});

t.test('setCa([]) on a client context does not bring the public roots back', async (t) => {
  const context = createSecureContext({ ca: publicRoots[0]!.toString() }, false);
  t.equal(trustedRoots(context), 1, 'one pinned root');
  try {
    context.setCa([]);
  } catch (error) {
    t.equal((error as { code?: string }).code, 'ERR_CTLS_INVALID_OPTION');
    return;
  }
  t.equal(trustedRoots(context), 0, 'an emptied CA list trusts nothing');
});
