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
import { connect } from '../dist/index.js';
import { makePki, startServer } from './helpers/mtls';
import { waitFor } from './helpers/owned';

t.test('checkServerIdentity returning null neither crashes the process nor refuses the server', async (t) => {
  const pki = await makePki();
  const { port } = await startServer(t, { key: pki.server.key, cert: pki.server.chain });
  const uncaught: Error[] = [];
  const onUncaught = (error: Error): void => void uncaught.push(error);
  // Recorded instead of crashing the test runner, so the test can report it.
  const previous = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', onUncaught);
  t.teardown(() => {
    process.removeListener('uncaughtException', onUncaught);
    for (const listener of previous) process.on('uncaughtException', listener);
  });

  const client = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    checkServerIdentity: () => null as unknown as undefined,
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const connected = await waitFor(client, 'secureConnect', 2_000).then(
    () => true,
    () => false,
  );
  t.same(
    uncaught.map((error) => error.message),
    [],
    'no exception escapes the handshake',
  );
  t.equal(connected, true, 'a falsy result accepts the server, as node:tls does');
  t.equal(client.authorized, true);
});
