/**
 * One client handshake whose `checkServerIdentity` answers what the test chooses, against a server
 * whose certificate is valid for the name, with every exception that escapes to the process recorded.
 * An escaping exception would take a real client process down; here it is kept for the test to
 * report instead of failing the test runner.
 */
import type { Test } from 'tap';
import { connect, type ConnectOptions, type TLSSocket } from '../../dist/index.js';
import { makePki, startServer } from './mtls';
import { waitFor } from './owned';
import { catchUncaught } from './uncaught';

export type IdentityCheck = NonNullable<ConnectOptions['checkServerIdentity']>;

/** A loopback handshake takes milliseconds; this only bounds the wait for one that never completes. */
const HANDSHAKE_WAIT_MS = 2_000;

export interface IdentityCheckRun {
  client: TLSSocket;
  /** Whether the client reached 'secureConnect' (false once it errored or the wait ran out). */
  connected: boolean;
  /** The `code` of every 'error' the client emitted, in order. */
  errorCodes: Array<string | undefined>;
  /** Every exception that reached the process as uncaught, from before the connect to the end of the test. */
  uncaught: Error[];
}

/** Connects a client judging the server with `checkServerIdentity` and reports how the handshake ended. */
export async function handshakeWithIdentityCheck(
  t: Test,
  checkServerIdentity: IdentityCheck,
): Promise<IdentityCheckRun> {
  const pki = await makePki();
  const { port } = await startServer(t, { key: pki.server.key, cert: pki.server.chain });
  const uncaught = catchUncaught(t);

  const client = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    checkServerIdentity,
  });
  const errorCodes: Array<string | undefined> = [];
  client.on('error', (error: NodeJS.ErrnoException) => void errorCodes.push(error.code));
  t.teardown(() => client.destroy());
  const connected = await waitFor(client, 'secureConnect', HANDSHAKE_WAIT_MS).then(
    () => true,
    () => false,
  );
  return { client, connected, errorCodes, uncaught };
}
