// Attack (crash from a handshake / node:tls parity): node:tls treats any falsy return of
// `checkServerIdentity` as "the server is who it should be" (`if (verifyError)`), so a check
// written `return null` on success, common in pinning code, works there. continuous-tls compares the
// return with `undefined` only: `null` is taken for a mismatch, and reading `null.code` to name it
// throws a TypeError inside the handshake's record cycle. Nothing catches it: it surfaces as an
// uncaught exception from the addon's read callback and takes the whole client process down on the
// first handshake (every connection, all of the process's other work with it). `false` likewise
// becomes a mismatch (where node accepts), but at least fails only that connection.
//
// A correct library never lets a handshake throw out of the record cycle: a checkServerIdentity
// result is judged as node judges it (falsy: accepted; an Error: a coded mismatch), and anything
// odd fails that connection with a coded error, never the process.
import t from 'tap';
import { handshakeWithIdentityCheck } from './helpers/identity-check';

t.test('checkServerIdentity returning null neither crashes the process nor refuses the server', async (t) => {
  const { client, connected, uncaught } = await handshakeWithIdentityCheck(t, () => null as unknown as undefined);
  t.same(
    uncaught.map((error) => error.message),
    [],
    'no exception escapes the handshake',
  );
  t.equal(connected, true, 'a falsy result accepts the server, as node:tls does');
  t.equal(client.authorized, true);
});
