// Attack (a regression of the last fix): it made #fail change `authorized` / `authorizationError`
// only "for a connection still authorized". During the handshake a connection is not authorized yet (authorized false,
// authorizationError null), so when OpenSSL itself refuses the peer's chain (a client whose `ca`
// does not issue the server's certificate, rejectUnauthorized on), the failure carries the reason
// (ERR_CTLS_CERT_VERIFY with verifyError UNABLE_TO_GET_ISSUER_CERT_LOCALLY) but the socket keeps
// authorizationError null. Before the fix it read the verify error, as node:tls does
// (tls.TLSSocket sets authorizationError to the verify error's code before it destroys the
// socket). An 'error' / 'close' handler, a log or an audit that reads the socket then sees a
// refused peer with no reason, indistinguishable from a connection that never got a certificate
// check at all.
// A correct library reports the refused chain's verification error in authorizationError, as
// node:tls and the API docs ("like tls.TLSSocket") say, while authorized stays false.
// Attack class: wrong security state reported to the app (authorized / authorizationError).
import t from 'tap';
import { connect, createServer } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen } from './helpers/owned';

t.test('a server chain refused at the handshake leaves its verify error in authorizationError', async (t) => {
  const server = createServer({ key: certs.serverKey, cert: certs.serverChain });
  server.on('tlsClientError', () => {});
  const port = await listen(t, server);
  const client = connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.wrongCa });
  const failed = await new Promise<{ code: unknown; verifyError: unknown }>((resolve) =>
    client.once('error', (error: Error & { code?: unknown; verifyError?: unknown }) =>
      resolve({ code: error.code, verifyError: error.verifyError }),
    ),
  );
  t.equal(failed.code, 'ERR_CTLS_CERT_VERIFY', 'the handshake is refused for the chain');
  t.equal(client.authorized, false, 'the server is not authorized');
  t.equal(client.authorizationError, failed.verifyError, 'authorizationError is the verify error that refused it');
  t.equal(client.authorizationError, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
});
