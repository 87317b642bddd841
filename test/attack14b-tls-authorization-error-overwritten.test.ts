// Attack: #fail (lib/tls/socket.ts) now sets `authorized = false` and `authorizationError` for any
// failure coded ERR_CTLS_CERT_VERIFY, taking the reason from the error's `verifyError` and, when
// it has none, writing 'NO_PEER_CERTIFICATE'. A resumed session is verified by the library itself
// (OpenSSL skips it), and a chain that no longer verifies there is refused with
// ERR_CTLS_CERT_VERIFY carrying the reason in `reason`, not `verifyError`: the socket had just
// recorded the true verify error, and #fail overwrites it with 'NO_PEER_CERTIFICATE', though the
// peer's certificate is right there. A 'close' handler, a log or an audit then reads "no
// certificate" for a peer whose certificate did not verify.
// A correct library leaves authorizationError at the verification error it found (the error's
// `reason`), as it does for a full handshake.
// Attack class: wrong security state reported to the app (authorized / authorizationError).
import t from 'tap';
import { connect, createServer, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen } from './helpers/owned';

t.test("a resumed server chain refused keeps the verify error, not 'no certificate'", async (t) => {
  const server = createServer({ key: certs.serverKey, cert: certs.serverChain });
  server.on('tlsClientError', () => {});
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.on('error', () => {});
    socket.end('hello');
  });
  const port = await listen(t, server);
  const first = connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca });
  first.on('error', () => {});
  const session = await new Promise<Buffer>((resolve) => first.once('session', resolve));
  first.resume();
  await new Promise((resolve) => first.once('close', resolve));
  // The same session, offered by a client that trusts another CA.
  const client = connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.wrongCa, session });
  const failure = await new Promise<Error & { code?: string; reason?: string }>((resolve) =>
    client.on('error', resolve),
  );
  t.equal(failure.code, 'ERR_CTLS_CERT_VERIFY', 'the resumed chain was refused');
  t.equal(client.authorized, false);
  t.not(client.authorizationError, 'NO_PEER_CERTIFICATE', 'the server did present a certificate');
  t.equal(client.authorizationError, failure.reason, 'authorizationError names the verify error');
});
